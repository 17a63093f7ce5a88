// Generated cubes hot enough to become activated (heat decayed to `$now` >= `$min_heat`).
// A read, so a tick with nothing to do writes nothing (and records no audit event);
// scheduler/transition.cypher applies the result.
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
WHERE c.scope IN scopes AND c.current AND c.status = 'generated' AND c.heat > 0
WITH c, ($now.epochMillis - coalesce(c.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
WITH c, c.heat * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END) AS heat
WHERE heat >= $min_heat
RETURN c.vid AS vid, c.id AS id, 'hot' AS reason, heat
ORDER BY heat DESC
