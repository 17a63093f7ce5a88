// Graph retriever, personalized PageRank flavour: the walk of graph_walk.cypher, but each
// step spreads a node's mass evenly over its edges (1/degree) and a walker stops with
// probability 0.15 per step, so a cube's score is the (truncated) personalized PageRank mass
// that reaches it from the seeds within three steps:
//   seed → cube ABOUT it (1 step), seed → RELATED entity → cube (2), seed → cube → another
//   entity of that cube → cube (3: co-mention).
// Hubs (an entity in thousands of cubes) pass each cube little mass, unlike the fixed-weight
// BFS walk. Seeds and ACL as in graph_walk.cypher; every hop capped at `$fanout`.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable, collect(DISTINCT s.key) AS keys
CALL (readable, keys) {
  WITH readable, keys WHERE $entity_terms <> '' AND size(keys) > 0
  CALL db.index.fulltext.queryNodes('entity_fulltext',
    '(name:(' + $entity_terms + ') OR aliases_text:(' + $entity_terms + ')) AND scope_key:('
    + reduce(acc = '', k IN keys | acc + ' ' + k) + ')', {limit: $max_seeds})
  YIELD node AS seed, score
  WHERE seed.scope IN readable
  RETURN seed, score / (1.0 + score) AS seed_weight
  UNION
  WITH readable
  UNWIND $seed_cubes AS cid
  MATCH (:MemCube {id: cid, current: true})-[:ABOUT]->(seed:Entity)
  WHERE seed.scope IN readable
  RETURN seed, $seed_cube_weight AS seed_weight
}
WITH readable, seed, max(seed_weight) AS seed_weight
ORDER BY seed_weight DESC
LIMIT $max_seeds
WITH readable, collect({seed: seed, w: seed_weight}) AS seeds
WITH readable, seeds, reduce(t = 0.0, x IN seeds | t + x.w) AS total
UNWIND seeds AS s
WITH readable, s.seed AS seed, s.w / CASE WHEN total > 0 THEN total ELSE 1.0 END AS mass,
  0.85 AS go
WITH readable, seed, mass, go,
  toFloat(COUNT { (seed)<-[:ABOUT]-(:MemCube {current: true}) } +
          COUNT { (seed)-[:RELATED]-(:Entity) }) AS deg
WHERE deg > 0
CALL (seed, readable, mass, go, deg) {
  MATCH (seed)<-[:ABOUT]-(c:MemCube {current: true})
  WITH c LIMIT $fanout
  RETURN c, mass * go / deg AS p, seed.name AS via
  UNION ALL
  MATCH (seed)-[:RELATED]-(n:Entity)
  WHERE n.scope IN readable
  WITH n LIMIT $fanout
  WITH n, toFloat(COUNT { (n)<-[:ABOUT]-(:MemCube {current: true}) } +
                  COUNT { (n)-[:RELATED]-(:Entity) }) AS ndeg
  MATCH (n)<-[:ABOUT]-(c:MemCube {current: true})
  WITH c, n, ndeg LIMIT $fanout
  RETURN c, mass * go * go / deg / ndeg AS p, seed.name + ' → ' + n.name AS via
  UNION ALL
  MATCH (seed)<-[:ABOUT]-(m:MemCube {current: true})
  WITH m LIMIT $fanout
  WITH m, toFloat(COUNT { (m)-[:ABOUT]->(:Entity) }) AS mdeg
  MATCH (m)-[:ABOUT]->(n:Entity)
  WHERE n <> seed AND n.scope IN readable
  WITH DISTINCT m, mdeg, n LIMIT $fanout
  WITH m, mdeg, n, toFloat(COUNT { (n)<-[:ABOUT]-(:MemCube {current: true}) } +
                           COUNT { (n)-[:RELATED]-(:Entity) }) AS ndeg
  MATCH (n)<-[:ABOUT]-(c:MemCube {current: true})
  WHERE c <> m
  WITH c, m, mdeg, n, ndeg LIMIT $fanout
  RETURN c, mass * go * go * go / deg / mdeg / ndeg AS p, seed.name + ' ~ ' + n.name AS via
}
WITH readable, c, sum(p) AS score, collect(DISTINCT via)[0..3] AS vias
WHERE c.scope IN readable AND c.current AND c.status IN $statuses
  AND NOT c.id IN $seed_cubes
  AND ($owner IS NULL OR c.owner = $owner)
  AND ($kinds IS NULL OR c.kind IN $kinds)
  AND ($include_superseded OR c.superseded_by IS NULL)
RETURN c {.id, .text, .kind, .category, .owner, .speaker, .priority,
  created_at: toString(c.created_at)} AS cube, score, vias,
  CASE WHEN $with_embedding THEN c.embedding ELSE null END AS embedding,
  CASE WHEN $embedding IS NULL THEN null
    ELSE vector.similarity.cosine(c.embedding, $embedding) END AS similarity,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids
ORDER BY score DESC
LIMIT $k
