// Existing entities of a scope by normalised name, for resolution before a write.
UNWIND $norms AS norm
MATCH (e:Entity {scope: $scope, norm: norm})
RETURN norm, e.id AS id, e.name AS name
