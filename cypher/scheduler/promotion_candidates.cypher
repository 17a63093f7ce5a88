// Activated cubes that have stayed hot (hot_since, kept by scheduler/decay.cypher) long enough
// to be worth promoting: to a KV cache (`$kv_*`) and, hotter for longer, to LoRA distillation
// (`$lora_*`). A cube with a queued or done request for a target, or one that failed after
// `$retry_before`, is blocked for that target: never queued twice. `partners` are the other
// live cubes of its scope retrieved together with it at least `$min_co_hits` times (the
// caller groups partners that are themselves promotable into one KV cache).
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
WHERE c.scope IN scopes AND c.current AND c.status = 'activated'
  AND c.hot_since IS NOT NULL
  AND coalesce(c.hits, 0) >= $kv_min_hits
  AND c.hot_since <= $now - duration({seconds: $kv_sustain_s})
WITH c, ($now.epochMillis - coalesce(c.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
WITH c, coalesce(c.heat, 0.0) * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END) AS heat
WHERE heat >= $kv_heat
WITH c, heat,
  EXISTS {
    MATCH (r:PromotionRequest {target: 'kv_cache'})-[:PROMOTES]->(c)
    WHERE r.status IN ['queued', 'done'] OR (r.status = 'failed' AND r.updated_at > $retry_before)
  } AS kv_blocked,
  EXISTS {
    MATCH (r:PromotionRequest {target: 'lora'})-[:PROMOTES]->(c)
    WHERE r.status IN ['queued', 'done'] OR (r.status = 'failed' AND r.updated_at > $retry_before)
  } AS lora_blocked,
  heat >= $lora_heat AND c.hits >= $lora_min_hits
    AND c.hot_since <= $now - duration({seconds: $lora_sustain_s}) AS lora_ready
WITH c, heat, NOT kv_blocked AS kv, lora_ready AND NOT lora_blocked AS lora
WHERE kv OR lora
RETURN c.id AS id, c.scope AS scope, c.owner AS owner, heat, c.hits AS hits,
  c.hot_since AS hot_since, kv, lora,
  [(c)-[r:CO_RETRIEVED]-(o:MemCube)
    WHERE r.count >= $min_co_hits AND o.current AND o.scope = c.scope | o.id] AS partners
ORDER BY heat DESC, id
LIMIT $limit
