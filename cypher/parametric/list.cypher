// Adapters the actor may read (all, without an actor), with their state, newest first.
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (a:LoRAAdapter)
WHERE $actor IS NULL OR a.scope IN readable
RETURN a.id AS id, a.owner_id AS owner, a.scope AS scope,
  CASE WHEN coalesce(a.stale, false) THEN 'stale' ELSE 'fresh' END AS state,
  a.stale_reason AS stale_reason, size(a.source_vids) AS cubes, a.bytes AS bytes,
  a.base_model_id AS base_model, a.created_at AS created_at
ORDER BY a.created_at DESC
LIMIT $limit
