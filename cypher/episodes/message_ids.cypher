// Map episode node ids back to the caller's message ids (readable episodes only).
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
UNWIND $ids AS eid
MATCH (e:Episode {id: eid})
WHERE e.scope IN readable
RETURN e.id AS id, e.msg_id AS msg_id, e.content AS content, e.role AS role, e.ts AS ts,
  e.session_id AS session_id
