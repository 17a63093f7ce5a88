// A builder reports on a promotion request: `$status` from one of `$from` (queued -> done or
// failed; failed -> queued to retry by hand), with an optional `$detail` (artifact path, error).
// With an `$actor`, only requests for scopes it may write. No row: unknown id, not allowed, or
// not in a status the move may start from.
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope)
WITH collect(DISTINCT s.id) AS writable
MATCH (r:PromotionRequest {id: $id})
WHERE ($actor IS NULL OR r.scope IN writable) AND r.status IN $from
SET r.status = $status, r.updated_at = $now, r.detail = $detail, r.marked_by = $by
RETURN r {.*} AS request
