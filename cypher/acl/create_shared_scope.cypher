// A shared scope (e.g. a team's knowledge graph), owned by the actor who creates it.
MATCH (actor:Principal {id: $actor})
MERGE (s:Scope {id: $scope})
  ON CREATE SET s.kind = 'shared', s.owner = $actor, s.key = $scope_key,
    s.created_at = datetime()
WITH actor, s
WHERE s.owner = $actor
MERGE (actor)-[:OWNS]->(s)
MERGE (actor)-[:CAN_READ]->(s)
MERGE (actor)-[:CAN_WRITE]->(s)
RETURN s.id AS scope
