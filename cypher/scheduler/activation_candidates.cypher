// Generated cubes hot enough to become activated (heat decayed to `$now` >= `$min_heat`).
// A read, so a tick with nothing to do writes nothing (and records no audit event);
// scheduler/transition.cypher applies the result.
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope)
WITH collect(DISTINCT s.id) AS writable
MATCH (c:MemCube)
WHERE c.current AND c.status = 'generated' AND c.heat > 0
  AND ($actor IS NULL OR c.scope IN writable)
WITH c, ($now.epochMillis - coalesce(c.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
WITH c, c.heat * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END) AS heat
WHERE heat >= $min_heat
RETURN c.vid AS vid, c.id AS id, 'hot' AS reason, heat
ORDER BY heat DESC
