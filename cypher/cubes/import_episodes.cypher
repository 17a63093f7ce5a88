// Import episodes from a bundle into a scope the actor may write (idempotent on id; an id that
// exists in another scope is skipped and the caller reports the conflict).
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH s LIMIT 1
UNWIND $rows AS row
OPTIONAL MATCH (existing:Episode {id: row.id})
WITH s, row, existing
WHERE existing IS NULL OR existing.scope = s.id
MERGE (e:Episode {id: row.id})
  ON CREATE SET e = row, e.scope = s.id
MERGE (e)-[:IN_SCOPE]->(s)
RETURN count(e) AS episodes
