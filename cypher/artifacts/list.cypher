// Derived artifacts (KV caches, LoRA adapters) the actor may read (all, without an actor),
// with their state, newest first; `$kinds` narrows to kv_cache and/or lora_adapter.
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (a:Artifact)
WHERE ($actor IS NULL OR a.scope IN readable) AND ($kinds IS NULL OR a.kind IN $kinds)
RETURN a.id AS id, a.kind AS kind, a.owner_id AS owner, a.scope AS scope,
  CASE WHEN coalesce(a.stale, false) THEN 'stale' ELSE 'fresh' END AS state,
  a.stale_reason AS stale_reason, size(a.source_vids) AS cubes, a.bytes AS bytes,
  coalesce(a.base_model_id, a.model_id) AS model, coalesce(a.hits, 0) AS hits,
  a.created_at AS created_at
ORDER BY a.created_at DESC
LIMIT $limit
