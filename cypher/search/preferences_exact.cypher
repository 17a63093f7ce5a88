// Preference channel, exact: cosine over every preference cube the actor may read, through the
// (scope, kind) index. Used when the approximate preference index (search/preferences.cypher),
// shared by all users, returns too few of this actor's preferences.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (c:MemCube)
WHERE c.scope IN readable AND c.kind = 'preference' AND c.current
  AND c.status IN $statuses AND c.embedding IS NOT NULL
  AND ($owner IS NULL OR c.owner = $owner)
  AND ($include_superseded OR c.superseded_by IS NULL)
WITH c, vector.similarity.cosine(c.embedding, $embedding) AS score
ORDER BY score DESC
LIMIT $k
RETURN c {.id, .text, .kind, .category, .owner, .speaker, .priority,
  created_at: toString(c.created_at)} AS cube, score, [] AS vias,
  CASE WHEN $with_embedding THEN c.embedding ELSE null END AS embedding,
  score AS similarity,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids
