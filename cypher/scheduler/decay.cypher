// Persist decayed heat as of `$now`, so the `heat` a cube's meta shows is current and the
// "hot since" clock that promotion waits on starts and stops at each tick. Heat is otherwise
// only rewritten on hits, and a cube nobody retrieves would keep its old heat forever.
// Below `$floor` heat is stored as 0 and the cube drops out of later decay passes.
// Scopes in play: those `$actor` may write, or every scope when `$actor` is null (a run over
// the whole graph). Collected first so the cube match is an index seek on :MemCube(scope).
CALL () {
  OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope)
  RETURN s.id AS scope
  UNION
  WITH $actor AS a WHERE a IS NULL
  MATCH (s:Scope) RETURN s.id AS scope
}
WITH collect(scope) AS scopes
MATCH (c:MemCube)
WHERE c.scope IN scopes AND c.current AND c.status <> 'frozen'
  AND (c.heat > 0 OR c.hot_since IS NOT NULL)
WITH c, ($now.epochMillis - coalesce(c.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
WITH c, coalesce(c.heat, 0.0) * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END) AS h
WITH c, CASE WHEN h < $floor THEN 0.0 ELSE h END AS h
SET c.heat = h,
    c.heat_at = CASE WHEN c.heat_at IS NULL OR c.heat_at < $now THEN $now ELSE c.heat_at END,
    c.hot_since = CASE WHEN h >= $hot_heat THEN coalesce(c.hot_since, $now) ELSE null END
RETURN count(c) AS decayed, sum(CASE WHEN c.hot_since IS NOT NULL THEN 1 ELSE 0 END) AS hot
