// Current cubes per lifecycle status and promotion requests per (target, status), for
// `graphmem scheduler status`. With an `$actor`, only scopes it may read.
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
CALL (readable) {
  MATCH (c:MemCube)
  WHERE c.current AND ($actor IS NULL OR c.scope IN readable)
  RETURN c.status AS status, count(*) AS n
  ORDER BY status
}
WITH readable, collect({status: status, n: n}) AS cubes
CALL (readable) {
  OPTIONAL MATCH (r:PromotionRequest)
  WHERE $actor IS NULL OR r.scope IN readable
  WITH r.target AS target, r.status AS status, count(r) AS n
  WHERE target IS NOT NULL
  RETURN collect({target: target, status: status, n: n}) AS requests
}
RETURN cubes, requests
