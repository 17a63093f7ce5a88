// The promotion queue, oldest first (builders take work in arrival order), optionally narrowed
// to some statuses and targets. With an `$actor`, only requests for scopes it may read.
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (r:PromotionRequest)
WHERE ($actor IS NULL OR r.scope IN readable)
  AND ($statuses IS NULL OR r.status IN $statuses)
  AND ($targets IS NULL OR r.target IN $targets)
RETURN r {.*} AS request
ORDER BY r.created_at, r.id
LIMIT $limit
