// Working-memory prediction for a session's next turn: the cubes derived from its latest
// `$turns` turns (what was just said is what the next turn most often needs), plus the live
// cubes ABOUT the entities those turns mention. A cube scores one for being from a recent turn
// plus the number of recent turns that mention its entities, so what the conversation keeps
// returning to comes first, then heat. Only turns and cubes the actor may read are used.
// Turns are ordered by write time, then position within the write (seq restarts per add call).
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (e:Episode)
WHERE e.owner = $owner AND e.session_id = $session_id AND e.scope IN readable
WITH readable, e ORDER BY e.created_at DESC, e.seq DESC LIMIT $turns
WITH readable, collect(e) AS recent
CALL (readable, recent) {
  UNWIND recent AS e
  MATCH (e)<-[:DERIVED_FROM]-(c:MemCube)
  WHERE c.current AND c.scope IN readable AND c.status IN ['generated', 'activated']
  RETURN c, 1 AS mentions, 'recent turn' AS via_name
  UNION ALL
  UNWIND recent AS e
  MATCH (e)<-[:DERIVED_FROM]-(:MemCube)-[:ABOUT]->(n:Entity)
  WITH n, count(DISTINCT e) AS turn_mentions
  MATCH (n)<-[:ABOUT]-(c:MemCube)
  WHERE c.current AND c.scope IN readable AND c.status IN ['generated', 'activated']
  RETURN c, turn_mentions AS mentions, n.name AS via_name
}
WITH c, sum(mentions) AS score, collect(DISTINCT via_name) AS via,
  ($now.epochMillis - coalesce(c.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
WITH c, score, via,
  coalesce(c.heat, 0.0) * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END) AS heat
RETURN c.id AS id, score, heat, via
ORDER BY score DESC, heat DESC, id
LIMIT $limit
