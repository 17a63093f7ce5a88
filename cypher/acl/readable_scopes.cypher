// The scopes a principal may read, directly or through groups (for people exploring ACLs).
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
RETURN DISTINCT s.id AS scope, s.kind AS kind, s.owner AS owner
ORDER BY scope
