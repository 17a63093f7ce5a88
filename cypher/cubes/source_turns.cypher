// The dialogue turns a cube's versions were derived from (its provenance), as far as the
// actor may read them, in conversation order; for the web console.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (c:MemCube {id: $id})-[:DERIVED_FROM]->(e:Episode)
WHERE c.scope IN readable AND e.scope IN readable
RETURN DISTINCT e.id AS id, e.role AS role, e.content AS content, e.session_id AS session_id,
  e.created_at AS created_at, e.seq AS seq, c.version AS version
ORDER BY created_at, seq, version
