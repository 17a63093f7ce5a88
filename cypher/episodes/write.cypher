// Store dialogue turns as Episode nodes in a scope the actor may write, with what goes with
// them, in one statement (a round trip each cost an add about 0.7 ms):
// - the session's turns chained in order (NEXT), so walks can follow the conversation;
// - the names the principal speaks under (the `name` of its own messages: "Caroline"), so a
//   question naming it ("What did Caroline research?") can be read, by that principal, as a
//   question about "I";
// - the stored turn before the batch's first: its episode cube learns the reply it got,
//   appended to its search text only (`text`, the version and the embedding stay as they were).
// Idempotent: an episode's id is a hash of scope and message id (or content), so re-ingesting
// the same conversation matches the existing nodes; `is_new` tells the caller which to extract.
// No row comes back when the actor may not write the scope, and then nothing is written.
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH s LIMIT 1
CALL (s) {
  UNWIND $rows AS row
  OPTIONAL MATCH (existing:Episode {id: row.id})
  WITH s, row, existing IS NULL AS is_new
  MERGE (e:Episode {id: row.id})
    ON CREATE SET e.scope = s.id, e.owner = row.owner, e.owner_id = row.owner_id, e.session_id = row.session_id,
      e.agent_id = row.agent_id, e.role = row.role, e.content = row.content,
      e.msg_id = row.msg_id, e.ts = row.ts, e.seq = row.seq, e.speaker = row.speaker,
      e.created_at = datetime(), e.created_by = $actor
  MERGE (e)-[:IN_SCOPE]->(s)
  RETURN collect({id: e.id, is_new: is_new}) AS written
}
CALL () {
  UNWIND $pairs AS pair
  MATCH (a:Episode {id: pair.prev}), (b:Episode {id: pair.next})
  MERGE (a)-[:NEXT]->(b)
}
CALL () {
  MATCH (p:Principal {id: $principal})
  WHERE size($names) > 0
  SET p.names = coalesce(p.names, []) + [n IN $names WHERE NOT n IN coalesce(p.names, [])]
}
CALL (s) {
  UNWIND $extensions AS row
  MATCH (c:MemCube {current: true, kind: 'episode'})-[:DERIVED_FROM]->(:Episode {id: row.episode})
  WHERE c.search_text IS NOT NULL AND c.scope = s.id
  SET c.search_text = c.search_text + '\n' + row.text
}
UNWIND written AS w
RETURN w.id AS id, w.is_new AS is_new
