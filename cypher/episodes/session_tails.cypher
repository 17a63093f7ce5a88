// The latest stored turn of each session a write goes on (one row per session key): the
// previous turn that the write's first turn answers, so the two can see each other in search
// text and the NEXT chain goes on across `add` calls. One query for a whole bulk ingest.
// ACL inside: the actor must read the scope.
MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
UNWIND $rows AS row
CALL (row, readable) {
  MATCH (e:Episode {owner: row.owner, session_id: row.session_id})
  WHERE e.scope = row.scope AND row.scope IN readable AND NOT e.id IN $exclude
  RETURN e
  ORDER BY e.created_at DESC, e.seq DESC
  LIMIT 1
}
RETURN row.scope AS scope, row.owner AS owner, row.session_id AS session_id,
  e.id AS id, e.content AS content
