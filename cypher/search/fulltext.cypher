// BM25 retriever over current cube text (Lucene full-text index). `$terms` is an escaped
// Lucene term list built from the query; the index query is narrowed to the actor's scope
// keys, and the WHERE below enforces the ACL and lifecycle rules all the same. With a query
// `$embedding`, each hit also carries its cosine similarity to the query, for fusion.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable, collect(DISTINCT s.key) AS keys
WHERE size(keys) > 0
WITH readable,
  'search_text:(' + $terms + ') AND scope_key:(' + reduce(acc = '', k IN keys | acc + ' ' + k) + ')'
  AS lucene
CALL db.index.fulltext.queryNodes('memcube_fulltext', lucene, {limit: $candidates})
YIELD node AS c, score
WHERE c.scope IN readable AND c.current AND c.status IN $statuses
  AND ($owner IS NULL OR c.owner = $owner)
  AND ($kinds IS NULL OR c.kind IN $kinds)
  AND ($include_superseded OR c.superseded_by IS NULL)
RETURN c {.id, .text, .kind, .category, .owner, .speaker, .priority,
  created_at: toString(c.created_at)} AS cube, score, [] AS vias,
  CASE WHEN $with_embedding THEN c.embedding ELSE null END AS embedding,
  CASE WHEN $embedding IS NULL THEN null
    ELSE vector.similarity.cosine(c.embedding, $embedding) END AS similarity,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids
ORDER BY score DESC
LIMIT $k
