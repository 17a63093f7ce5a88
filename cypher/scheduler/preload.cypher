// Working-memory prediction for a session's next turn: the entities its latest `$turns` turns
// mention (through the cubes derived from those turns) and the live cubes ABOUT them. A cube
// scores the number of recent turns that mention its entities, so what the conversation keeps
// returning to comes first, then heat. Only turns and cubes the actor may read are used.
// Turns are ordered by write time, then position within the write (seq restarts per add call).
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (e:Episode)
WHERE e.owner = $owner AND e.session_id = $session_id AND e.scope IN readable
WITH readable, e ORDER BY e.created_at DESC, e.seq DESC LIMIT $turns
MATCH (e)<-[:DERIVED_FROM]-(:MemCube)-[:ABOUT]->(n:Entity)
WITH readable, n, count(DISTINCT e) AS mentions
MATCH (n)<-[:ABOUT]-(c:MemCube)
WHERE c.current AND c.scope IN readable AND c.status IN ['generated', 'activated']
WITH c, sum(mentions) AS score, collect(DISTINCT n.name) AS via,
  ($now.epochMillis - coalesce(c.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
WITH c, score, via,
  coalesce(c.heat, 0.0) * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END) AS heat
RETURN c.id AS id, score, heat, via
ORDER BY score DESC, heat DESC, id
LIMIT $limit
