// The fresh KV cache for a rendered memory prefix, model and adapter that the actor may read:
// not stale, and every source still the current, live version it was built from (checked here
// too, so a cache is never used even if a staleness mark were missed).
MATCH (kv:KVCache {prefix_sha256: $prefix_sha256})
WHERE kv.current AND NOT coalesce(kv.stale, false)
  AND kv.model_fingerprint = $model_fingerprint
  AND coalesce(kv.adapter_id, '') = coalesce($adapter_id, '')
  AND EXISTS {
    MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(:Scope {id: kv.scope})
  }
  AND ALL(vid IN kv.source_vids WHERE EXISTS {
    MATCH (kv)-[:DERIVED_FROM]->(c:MemCube {vid: vid})
    WHERE c.current AND c.status IN ['generated', 'activated']
  })
RETURN kv.id AS id, kv.path AS path, kv.token_count AS token_count
ORDER BY kv.created_at DESC
LIMIT 1
