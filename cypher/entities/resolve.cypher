// Entity resolution by meaning: for each new name (no entity with that normalised name in the
// scope yet), the most similar existing entity of a compatible type whose name embedding is
// within `$threshold` ("NYC" → "New York City"). Exact scan of the scope's entities: a scope
// holds far fewer entities than cubes.
MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope {id: $scope})
WITH s LIMIT 1
UNWIND $rows AS row
CALL (row, s) {
  MATCH (e:Entity {scope: s.id})
  WHERE e.name_embedding IS NOT NULL AND e.norm <> row.norm
    AND (e.type = row.type OR e.type = 'other' OR row.type = 'other')
  WITH e, vector.similarity.cosine(e.name_embedding, row.embedding) AS sim
  WHERE sim >= $threshold
  RETURN e, sim
  ORDER BY sim DESC
  LIMIT 1
}
RETURN row.norm AS norm, e.id AS id, e.name AS name, sim
