// Current cubes per lifecycle status and promotion requests per (target, status), for
// `graphmem scheduler status`. With an `$actor`, only scopes it may read.
// Scopes in play: those `$actor` may read, or every scope when `$actor` is null. Collected
// first so the cube match is an index seek on :MemCube(scope).
CALL () {
  OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
  RETURN s.id AS scope
  UNION
  WITH $actor AS a WHERE a IS NULL
  MATCH (s:Scope) RETURN s.id AS scope
}
WITH collect(scope) AS scopes
CALL (scopes) {
  MATCH (c:MemCube)
  WHERE c.scope IN scopes AND c.current
  RETURN c.status AS status, count(*) AS n
  ORDER BY status
}
WITH scopes, collect({status: status, n: n}) AS cubes
CALL (scopes) {
  OPTIONAL MATCH (r:PromotionRequest)
  WHERE r.scope IN scopes
  WITH r.target AS target, r.status AS status, count(r) AS n
  WHERE target IS NOT NULL
  RETURN collect({target: target, status: status, n: n}) AS requests
}
RETURN cubes, requests
