// Entity resolution by normalised name within a scope: one node per (scope, name), aliases
// accumulate. Embedding-based resolution picks `row.id` of an existing entity before this runs.
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH s LIMIT 1
UNWIND $rows AS row
MERGE (e:Entity {id: row.id})
  ON CREATE SET e.scope = s.id, e.scope_key = s.key, e.owner = row.owner, e.owner_id = row.owner_id, e.name = row.name, e.norm = row.norm,
    e.type = row.type, e.aliases = [], e.created_at = datetime(), e.mentions = 0,
    e.name_embedding = row.embedding
SET e.aliases = [a IN e.aliases WHERE NOT a IN row.aliases] + row.aliases,
    e.aliases_text = reduce(t = '', a IN ([a IN e.aliases WHERE NOT a IN row.aliases] + row.aliases) | t + ' ' + a),
    e.mentions = e.mentions + 1,
    e.updated_at = datetime()
MERGE (e)-[:IN_SCOPE]->(s)
RETURN e.id AS id, e.name AS name
