// Typed relations between entities of one scope (e.g. sister_of, lives_in), with provenance.
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH s LIMIT 1
UNWIND $rows AS row
MATCH (a:Entity {id: row.source}), (b:Entity {id: row.target})
WHERE a.scope = s.id AND b.scope = s.id
MERGE (a)-[r:RELATED {type: row.relation}]->(b)
  ON CREATE SET r.created_at = datetime(), r.episode_ids = row.episode_ids, r.extractor = row.extractor
RETURN count(r) AS related
