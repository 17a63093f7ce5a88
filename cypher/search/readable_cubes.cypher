// Every current, live cube the actor may read, with its embedding: the corpus of the
// in-process baselines (rank-bm25, brute-force dense), which rank exactly the cubes the
// Neo4j retrievers see, so benchmarks compare like with like. Not for production queries.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (c:MemCube)
WHERE c.scope IN readable AND c.current AND c.status IN $statuses
  AND ($owner IS NULL OR c.owner = $owner)
  AND ($kinds IS NULL OR c.kind IN $kinds)
  AND ($include_superseded OR c.superseded_by IS NULL)
RETURN c {.*, embedding: null, search_text: null} AS cube, 0.0 AS score,
  c.embedding AS embedding,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids,
  [(c)-[:ABOUT]->(n:Entity) | n.name] AS entities
