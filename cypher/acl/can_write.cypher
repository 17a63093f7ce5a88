// Whether the actor may write a scope (directly or through a group).
OPTIONAL MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[w:CAN_WRITE]->(:Scope {id: $scope})
RETURN count(w) > 0 AS allowed
