// Every version of the cubes a bundle selects, among those the actor may read: by owner
// ($owner, a bare name), by scope ($scope) and by kind ($kinds); a null filter selects all.
// Artifacts (KV caches, adapters) are files of one model and one instance: never exported.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (c:MemCube)
WHERE c.scope IN readable AND NOT c:Artifact
  AND ($owner IS NULL OR c.owner = $owner)
  AND ($scope IS NULL OR c.scope = $scope)
  AND ($kinds IS NULL OR c.kind IN $kinds)
RETURN c {.*, search_text: null} AS cube,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids,
  [(c)-[:ABOUT]->(n:Entity) | n.name] AS entities,
  [(c)-[:PREVIOUS_VERSION]->(prev) | prev.version] AS previous
ORDER BY c.id, c.version
