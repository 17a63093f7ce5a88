// Entity resolution for a bulk ingest (graphmem.ingestion.Ingestor.add_many): the rule of
// entities/resolve.cypher, with each row's `key` returned so that names of several
// conversations (the same normalised name may come with different types) map back.
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
RETURN row.key AS key, e.id AS id, e.name AS name, sim
