// Every version of a cube, oldest first, with provenance (readable scopes only).
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (c:MemCube {id: $id})
WHERE c.scope IN readable
RETURN c {.*, embedding: null, search_text: null} AS cube,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids,
  [(c)-[:ABOUT]->(n:Entity) | n.name] AS entities,
  [(c)-[:PREVIOUS_VERSION]->(prev) | prev.version] AS previous
ORDER BY c.version
