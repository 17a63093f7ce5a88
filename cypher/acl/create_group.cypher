// A group principal with its own shared scope; the creator owns both and is its first member.
MATCH (actor:Principal {id: $actor})
MERGE (g:Principal {id: $group})
  ON CREATE SET g.kind = 'group', g.name = $name, g.created_at = datetime(), g.creator = $actor
WITH actor, g
WHERE g.creator = $actor
MERGE (s:Scope {id: $scope})
  ON CREATE SET s.kind = 'group', s.owner = $group, s.key = $scope_key,
    s.created_at = datetime()
MERGE (g)-[:OWNS]->(s)
MERGE (g)-[:CAN_READ]->(s)
MERGE (g)-[:CAN_WRITE]->(s)
MERGE (actor)-[:OWNS]->(s)
MERGE (actor)-[:MEMBER_OF]->(g)
RETURN g.id AS group, s.id AS scope
