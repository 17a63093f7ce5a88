// Enqueue promotion requests: `$rows` = [{id, target, cube_ids, reason, heat}]. Each becomes a
// (:PromotionRequest {status: 'queued'}) with a PROMOTES edge to every cube; it records the
// cubes' scope (and owner) so the queue can be filtered by who may read it. The guard is
// repeated here, not only in the candidate read: a request is created only if all its cubes are
// current, live (generated or activated, never frozen), in one scope (writable by `$actor`
// when one is given), and none is already queued or done for the target (or failed after
// `$retry_before`). Rows that fail the guard create nothing and are not returned.
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope)
WITH collect(DISTINCT s.id) AS writable
UNWIND $rows AS row
CALL (row, writable) {
  MATCH (c:MemCube)
  WHERE c.id IN row.cube_ids AND c.current AND c.status IN ['generated', 'activated']
    AND ($actor IS NULL OR c.scope IN writable)
  RETURN collect(c) AS cubes, collect(DISTINCT c.scope) AS scopes,
    sum(CASE WHEN EXISTS {
      MATCH (r:PromotionRequest {target: row.target})-[:PROMOTES]->(c)
      WHERE r.status IN ['queued', 'done']
         OR (r.status = 'failed' AND r.updated_at > $retry_before)
    } THEN 1 ELSE 0 END) AS blocked
}
WITH row, cubes, scopes, blocked
WHERE blocked = 0 AND size(cubes) = size(row.cube_ids) AND size(scopes) = 1
CREATE (r:PromotionRequest {
  id: row.id, target: row.target, status: 'queued', created_at: $now, updated_at: $now,
  cube_ids: row.cube_ids, reason: row.reason, heat: row.heat, scope: scopes[0],
  owner: head([c IN cubes WHERE c.owner IS NOT NULL | c.owner]), requested_by: $by
})
WITH r, cubes
CALL (r, cubes) {
  UNWIND cubes AS c
  CREATE (r)-[:PROMOTES]->(c)
}
RETURN r.id AS id, r {.*} AS request
