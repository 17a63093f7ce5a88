// Live cubes to archive, with the reason, checked in this order:
//   expired - an explicit expires_at has passed (always applies);
//   ttl     - older than its kind's time to live (`$ttl_s`, seconds per kind) and not hot;
//   cold    - heat below `$cold_heat` and unused (last hit, else creation) for `$cold_after_s`.
// Priorities in `$exempt` escape ttl and cold: a user said these must survive disuse.
// Naive expires_at values (LocalDateTime) are read as UTC, so they compare with `$now`.
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
WHERE c.scope IN scopes AND c.current AND c.status IN ['generated', 'activated']
WITH c, ($now.epochMillis - coalesce(c.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
WITH c, coalesce(c.heat, 0.0) * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END) AS heat,
  NOT coalesce(c.priority, 'mid') IN $exempt AS may_fade,
  $ttl_s[c.kind] AS ttl_s
WITH c, heat, CASE
  WHEN c.expires_at IS NOT NULL
    AND datetime({datetime: c.expires_at, timezone: 'UTC'}) <= $now THEN 'expired'
  WHEN may_fade AND ttl_s IS NOT NULL AND heat < $ttl_keep_heat
    AND c.created_at <= $now - duration({seconds: ttl_s}) THEN 'ttl'
  WHEN may_fade AND $cold_after_s IS NOT NULL AND heat < $cold_heat
    AND coalesce(c.last_hit_at, c.created_at) <= $now - duration({seconds: $cold_after_s})
    THEN 'cold'
  END AS reason
WHERE reason IS NOT NULL
RETURN c.vid AS vid, c.id AS id, reason, heat
