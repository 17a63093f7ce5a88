// Every version of a user's cubes that the actor may read, for a portable bundle.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (c:MemCube)
WHERE c.owner = $user_id AND c.scope IN readable
RETURN c {.*, search_text: null} AS cube,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids,
  [(c)-[:ABOUT]->(n:Entity) | n.name] AS entities,
  [(c)-[:PREVIOUS_VERSION]->(prev) | prev.version] AS previous
ORDER BY c.id, c.version
