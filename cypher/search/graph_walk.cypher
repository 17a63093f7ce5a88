// Graph retriever: a bounded, weighted walk over the actor's readable subgraph.
// Seeds are entities whose names match the query (`$entity_terms`, Lucene) plus the entities
// of `$seed_cubes` (top hits of the other retrievers). From each seed, cubes are reached by:
//   ABOUT the seed (weight 1.0), ABOUT an entity RELATED to the seed (0.6),
//   derived from the same dialogue turn as a cube about the seed (0.5),
//   ABOUT an entity co-mentioned with the seed in another cube (0.3).
// Every hop is capped at `$fanout` nodes, so hub entities (mentioned in thousands of cubes)
// cost a bounded walk. Scores add up over seeds and paths, so cubes tied to several query
// entities rise; this
// reaches memories that share no words with the query. The seed cubes themselves are left
// out: they are already ranked by the retriever that found them.
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
CALL (seed, readable) {
  MATCH (seed)<-[:ABOUT]-(c:MemCube)
  WITH c LIMIT $fanout
  RETURN c, 1.0 AS w, seed.name AS via
  UNION ALL
  MATCH (seed)-[:RELATED]-(n:Entity)
  WHERE n.scope IN readable
  WITH n LIMIT $fanout
  MATCH (n)<-[:ABOUT]-(c:MemCube)
  WITH c, n LIMIT $fanout
  RETURN c, 0.6 AS w, seed.name + ' → ' + n.name AS via
  UNION ALL
  MATCH (seed)<-[:ABOUT]-(m:MemCube {current: true})
  WITH m LIMIT $fanout
  MATCH (m)-[:DERIVED_FROM]->(:Episode)<-[:DERIVED_FROM]-(c:MemCube)
  WITH c LIMIT $fanout
  RETURN c, 0.5 AS w, seed.name + ' (same turn)' AS via
  UNION ALL
  MATCH (seed)<-[:ABOUT]-(m:MemCube {current: true})
  WITH m LIMIT $fanout
  MATCH (m)-[:ABOUT]->(n:Entity)
  WHERE n <> seed AND n.scope IN readable
  WITH DISTINCT n LIMIT $fanout
  MATCH (n)<-[:ABOUT]-(c:MemCube)
  WITH c, n LIMIT $fanout
  RETURN c, 0.3 AS w, seed.name + ' ~ ' + n.name AS via
}
WITH readable, c, sum(seed_weight * w) AS score, collect(DISTINCT via)[0..3] AS vias
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
