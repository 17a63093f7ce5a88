// One cube (current version, or `$version`) if the actor may read its scope.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (c:MemCube {id: $id})
WHERE c.scope IN readable
  AND (($version IS NULL AND c.current) OR c.version = $version)
RETURN c {.*, embedding: null, search_text: null} AS cube,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids,
  [(c)-[:ABOUT]->(n:Entity) | n.name] AS entities,
  [(p:Principal)-[:CAN_READ]->(:Scope {id: c.scope}) | p.id] AS access,
  [(c)-[:PREVIOUS_VERSION]->(prev) | prev.version] AS previous
