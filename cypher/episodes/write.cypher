// Store dialogue turns as Episode nodes in a scope the actor may write.
// Idempotent: an episode's id is a hash of scope and message id (or content), so re-ingesting
// the same conversation matches the existing nodes; `is_new` tells the caller which to extract.
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH s LIMIT 1
UNWIND $rows AS row
OPTIONAL MATCH (existing:Episode {id: row.id})
WITH s, row, existing IS NULL AS is_new
MERGE (e:Episode {id: row.id})
  ON CREATE SET e.scope = s.id, e.owner = row.owner, e.owner_id = row.owner_id, e.session_id = row.session_id,
    e.agent_id = row.agent_id, e.role = row.role, e.content = row.content,
    e.msg_id = row.msg_id, e.ts = row.ts, e.seq = row.seq, e.speaker = row.speaker,
    e.created_at = datetime(), e.created_by = $actor
MERGE (e)-[:IN_SCOPE]->(s)
RETURN e.id AS id, is_new
