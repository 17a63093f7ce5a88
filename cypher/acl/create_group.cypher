// A group principal with its own shared scope; the creator owns both and is its first member.
// A group name is taken once: by its creator, or (for a bare group principal that an older
// version created on a read, owning no scope) claimed by the first create_group. A group whose
// creator was erased keeps no creator, so a later user of the same name cannot inherit it.
MATCH (actor:Principal {id: $actor})
MERGE (g:Principal {id: $group})
  ON CREATE SET g.kind = 'group', g.name = $name, g.created_at = datetime(), g.creator = $actor
WITH actor, g
WHERE g.creator = $actor
   OR (g.creator IS NULL AND g.creator_erased_at IS NULL AND NOT EXISTS { (g)-[:OWNS]->() })
SET g.creator = $actor
MERGE (s:Scope {id: $scope})
  ON CREATE SET s.kind = 'group', s.owner = $group, s.key = $scope_key,
    s.created_at = datetime()
MERGE (g)-[:OWNS]->(s)
MERGE (g)-[:CAN_READ]->(s)
MERGE (g)-[:CAN_WRITE]->(s)
MERGE (actor)-[:OWNS]->(s)
MERGE (actor)-[:MEMBER_OF]->(g)
RETURN g.id AS group, s.id AS scope
