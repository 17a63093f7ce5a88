// Vector retriever: approximate nearest neighbours from the vector index, then the ACL and
// lifecycle filters. The index is global across users, so it is asked for more candidates
// the smaller the actor's share of all cubes is (`$total` cubes, `$own` readable by the actor:
// search/ann_share.cypher, kept a while by the store); when fewer than `$k` still survive the
// filters, the caller asks again with `$overfetch` = 4, then falls back to
// search/vector_exact.cypher.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
// 1.5 x k of the actor's expected share: the ANN cost grows with the candidates asked for
// (at 10k cubes, 10% owned, 900 -> 450 took the channel from 11.9 to 9.6 ms at p50), and 55
// of 55 queries still found k rows the first time (the retry covers the rest).
WITH readable, $overfetch * 1.5 * $k * $total / ($own + 1) AS want
WITH readable, toInteger(CASE WHEN want < $candidates THEN $candidates
  WHEN want > $max_candidates THEN $max_candidates ELSE want END) AS fetch
CALL db.index.vector.queryNodes('memcube_embedding', fetch, $embedding)
YIELD node AS c, score
WHERE c.scope IN readable AND c.current AND c.status IN $statuses
  AND ($owner IS NULL OR c.owner = $owner)
  AND ($kinds IS NULL OR c.kind IN $kinds)
  AND ($include_superseded OR c.superseded_by IS NULL)
RETURN c {.id, .text, .kind, .category, .owner, .speaker, .priority,
  created_at: toString(c.created_at)} AS cube, score, [] AS vias,
  CASE WHEN $with_embedding THEN c.embedding ELSE null END AS embedding,
  score AS similarity,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids
ORDER BY score DESC
LIMIT $k
