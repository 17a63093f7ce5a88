// Revoke read and/or write on a scope. Only the owner may revoke; the owner keeps its rights.
MATCH (owner:Principal {id: $actor})-[:OWNS]->(s:Scope {id: $scope})
MATCH (p:Principal {id: $principal})
WHERE p <> owner
OPTIONAL MATCH (p)-[r:CAN_READ|CAN_WRITE]->(s)
WHERE (type(r) = 'CAN_READ' AND $read) OR (type(r) = 'CAN_WRITE' AND $write)
DELETE r
WITH s, count(r) AS revoked
// A scope's ACL changed: its artifacts (KV caches, LoRA adapters) go stale in this transaction (who may read the cached
// memories is part of what a cache was built under).
CALL (s) {
  MATCH (kv:Artifact {scope: s.id})
  SET kv.stale = true, kv.status = 'archived', kv.stale_reason = 'scope ACL changed',
      kv.stale_at = datetime()
}
RETURN s.id AS scope, revoked
