// Grant read and/or write on a scope. Only the scope's owner may grant.
MATCH (owner:Principal {id: $actor})-[:OWNS]->(s:Scope {id: $scope})
MERGE (p:Principal {id: $principal})
  ON CREATE SET p.kind = $kind, p.name = $name, p.created_at = datetime()
FOREACH (_ IN CASE WHEN $read THEN [1] ELSE [] END | MERGE (p)-[:CAN_READ]->(s))
FOREACH (_ IN CASE WHEN $write THEN [1] ELSE [] END | MERGE (p)-[:CAN_WRITE]->(s))
WITH s, p
// A scope's ACL changed: its artifacts (KV caches, LoRA adapters) go stale in this transaction (who may read the cached
// memories is part of what a cache was built under).
CALL (s) {
  MATCH (kv:Artifact {scope: s.id})
  SET kv.stale = true, kv.status = 'archived', kv.stale_reason = 'scope ACL changed',
      kv.stale_at = datetime()
}
RETURN s.id AS scope, p.id AS principal
