// The latest stored turn of a session before this batch: the previous turn that the batch's
// first turn answers, so the two can see each other in search text and the NEXT chain goes on
// across `add` calls. ACL inside: the actor must read the scope.
MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope {id: $scope})
WITH s LIMIT 1
MATCH (e:Episode {owner: $owner, session_id: $session_id})-[:IN_SCOPE]->(s)
WHERE NOT e.id IN $exclude
RETURN e.id AS id, e.role AS role, e.content AS content
ORDER BY e.created_at DESC, e.seq DESC
LIMIT 1
