// Current cubes the actor may read, newest first, optionally narrowed by owner, kind, status.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (c:MemCube)
WHERE c.scope IN readable AND c.current
  AND ($owner IS NULL OR c.owner = $owner)
  AND ($kinds IS NULL OR c.kind IN $kinds)
  AND ($statuses IS NULL OR c.status IN $statuses)
RETURN c {.*, embedding: null, search_text: null} AS cube,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids,
  [(c)-[:ABOUT]->(n:Entity) | n.name] AS entities
ORDER BY c.created_at DESC, c.id
SKIP $offset LIMIT $limit
