// A principal (user, agent or group) and the scope it owns, created on first use.
// The owner may read, write and grant on its own scope.
MERGE (p:Principal {id: $principal})
  ON CREATE SET p.kind = $kind, p.name = $name, p.created_at = datetime()
MERGE (s:Scope {id: $scope})
  ON CREATE SET s.kind = $scope_kind, s.owner = $principal, s.key = $scope_key,
    s.created_at = datetime()
MERGE (p)-[:OWNS]->(s)
MERGE (p)-[:CAN_READ]->(s)
MERGE (p)-[:CAN_WRITE]->(s)
RETURN p.id AS principal, s.id AS scope
