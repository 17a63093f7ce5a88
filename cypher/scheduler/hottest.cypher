// The hottest current cubes (heat decayed to `$now`): what the scheduler is about to activate
// or promote. With an `$actor`, only scopes it may read.
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
MATCH (c:MemCube)
WHERE c.scope IN scopes AND c.current AND c.heat > 0
WITH c, ($now.epochMillis - coalesce(c.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
WITH c, c.heat * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END) AS heat
RETURN c.id AS id, c.kind AS kind, c.status AS status, c.scope AS scope, c.text AS text, heat,
  coalesce(c.hits, 0) AS hits, c.last_hit_at AS last_hit_at, c.hot_since AS hot_since
ORDER BY heat DESC, id
LIMIT $limit
