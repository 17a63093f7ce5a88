// A chat used a cache: its heat (for tier placement) and hit count.
MATCH (kv:KVCache {id: $id})
SET kv.hits = coalesce(kv.hits, 0) + 1, kv.last_hit_at = datetime(),
    kv.heat = coalesce(kv.heat, 0.0) + 1.0
RETURN kv.id AS id
