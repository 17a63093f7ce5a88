// Revoke read and/or write on a scope. Only the owner may revoke; the owner keeps its rights.
MATCH (owner:Principal {id: $actor})-[:OWNS]->(s:Scope {id: $scope})
MATCH (p:Principal {id: $principal})
WHERE p <> owner
OPTIONAL MATCH (p)-[r:CAN_READ|CAN_WRITE]->(s)
WHERE (type(r) = 'CAN_READ' AND $read) OR (type(r) = 'CAN_WRITE' AND $write)
DELETE r
RETURN s.id AS scope, count(r) AS revoked
