// Flush buffered retrieval hits in one round trip. `$rows` holds one entry per actor:
// {actor, hits: [{id, at, add, count}], pairs: [{a, b, at, count}]}, pre-aggregated in Python
// (`add` is the rank-weighted heat of the actor's hits, decayed to `at`). Only current cubes the
// actor may read are touched, so ids from another user's results change nothing; frozen cubes
// are never touched. Hits of several actors on one cube are combined before the single SET,
// so the heat update does not depend on row order:
//   heat = heat * 0.5^((at - heat_at) / half_life) + add;   hits += count;  last_hit_at = at
// `pairs` count how often two top-ranked cubes are retrieved together (CO_RETRIEVED), the
// signal that groups memories for one KV cache.
UNWIND $rows AS row
OPTIONAL MATCH (:Principal {id: row.actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH row, collect(DISTINCT s.id) AS readable
CALL (row, readable) {
  UNWIND row.pairs AS p
  MATCH (a:MemCube {id: p.a}), (b:MemCube {id: p.b})
  WHERE a.current AND b.current AND a.scope IN readable AND b.scope IN readable
    AND a.status <> 'frozen' AND b.status <> 'frozen'
  MERGE (a)-[r:CO_RETRIEVED]->(b)
    ON CREATE SET r.count = 0, r.first_at = p.at
  SET r.count = r.count + p.count, r.last_at = p.at
}
UNWIND row.hits AS h
MATCH (c:MemCube {id: h.id})
WHERE c.current AND c.scope IN readable AND c.status <> 'frozen'
WITH c, collect(h) AS hs
WITH c, hs, reduce(m = hs[0].at, x IN hs | CASE WHEN x.at > m THEN x.at ELSE m END) AS at
WITH c, at,
  reduce(n = 0, x IN hs | n + x.count) AS n,
  reduce(w = 0.0, x IN hs |
    w + x.add * 0.5 ^ ((at.epochMillis - x.at.epochMillis) / 1000.0 / $half_life_s)) AS add
WITH c, at, n, add,
  (at.epochMillis - coalesce(c.heat_at, at).epochMillis) / 1000.0 / $half_life_s AS lives
// lives < 0: the stored heat is newer than these hits (a tick ran ahead); decay the hits instead.
SET c.heat = CASE WHEN lives >= 0 THEN coalesce(c.heat, 0.0) * 0.5 ^ lives + add
                  ELSE coalesce(c.heat, 0.0) + add * 0.5 ^ (-lives) END,
    c.heat_at = CASE WHEN lives >= 0 THEN at ELSE c.heat_at END,
    c.hits = coalesce(c.hits, 0) + n,
    c.last_hit_at = CASE WHEN c.last_hit_at IS NULL OR c.last_hit_at < at THEN at
                         ELSE c.last_hit_at END
RETURN c.id AS id, c.heat AS heat, c.hits AS hits
