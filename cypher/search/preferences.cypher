// Preference channel: the reader's current preferences nearest the query, from the vector
// index over preference cubes (schema/003_search.cypher), so a stated preference competes
// even when many other memories are closer to the question. Like search/vector.cypher, the
// index is shared by all users: it is asked for more candidates the smaller the actor's share
// of all preferences is (`$total` and `$own`, from search/ann_share.cypher), and the caller
// falls back to search/preferences_exact.cypher when fewer than `$k` survive the ACL and
// lifecycle filters.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
// Fewer preferences than asked for: no index query, the caller's exact scan is cheaper.
WITH readable WHERE $own >= $k
WITH readable, $overfetch * 3.0 * $k * $total / ($own + 1) AS want
WITH readable, toInteger(CASE WHEN want < $candidates THEN $candidates
  WHEN want > $max_candidates THEN $max_candidates ELSE want END) AS fetch
CALL db.index.vector.queryNodes('preference_embedding', fetch, $embedding)
YIELD node AS c, score
WHERE c.scope IN readable AND c.current AND c.kind = 'preference'
  AND c.status IN $statuses
  AND ($owner IS NULL OR c.owner = $owner)
  AND ($include_superseded OR c.superseded_by IS NULL)
RETURN c {.id, .text, .kind, .category, .owner, .speaker, .priority,
  created_at: toString(c.created_at)} AS cube, score, [] AS vias,
  CASE WHEN $with_embedding THEN c.embedding ELSE null END AS embedding,
  score AS similarity,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids
ORDER BY score DESC
LIMIT $k
