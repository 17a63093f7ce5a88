// The actor's own fresh adapter for a base model: only adapters owned by the actor are ever
// applied to its requests (never another principal's, even in a scope it may read), newest
// first, with every source still the version it was distilled from.
MATCH (a:LoRAAdapter {owner_id: $actor, base_fingerprint: $base_fingerprint})
WHERE a.current AND NOT coalesce(a.stale, false)
  AND ALL(vid IN a.source_vids WHERE EXISTS {
    MATCH (a)-[:DERIVED_FROM]->(c:MemCube {vid: vid})
    WHERE c.current AND c.status IN ['generated', 'activated']
  })
RETURN a.id AS id, a.path AS path
ORDER BY a.created_at DESC
LIMIT 1
