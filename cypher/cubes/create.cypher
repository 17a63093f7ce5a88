// Create MemCubes (version 1) in a scope the actor may write, with provenance and entity edges.
// Idempotent: a current, live cube with the same content hash in the scope is returned instead
// of a new one (`created` = false). Labels: MemCube + memory type + kind (e.g. :Plaintext:Preference).
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH s LIMIT 1
UNWIND $rows AS row
OPTIONAL MATCH (dup:MemCube {scope: s.id, content_hash: row.content_hash})
  WHERE dup.current AND dup.status IN ['generated', 'activated']
WITH s, row, head(collect(dup)) AS dup
CALL (s, row, dup) {
  WITH s, row, dup WHERE dup IS NULL
  CREATE (c:MemCube)
  SET c = row.props,
      c.vid = row.props.id + ':v1', c.version = 1, c.current = true,
      c.scope = s.id, c.scope_key = s.key, c.created_by = $actor,
      c.created_at = datetime(), c.updated_at = datetime(),
      c.embedding = row.embedding, c.search_text = row.props.text,
      c.hits = 0, c.heat = 0.0
  SET c:$(row.labels)
  CREATE (c)-[:IN_SCOPE]->(s)
  WITH c, row
  CALL (c, row) {
    UNWIND row.episode_ids AS eid
    MATCH (e:Episode {id: eid})
    CREATE (c)-[:DERIVED_FROM {extractor: row.props.extractor, at: datetime()}]->(e)
  }
  CALL (c, row) {
    UNWIND row.entity_ids AS nid
    MATCH (n:Entity {id: nid})
    MERGE (c)-[:ABOUT]->(n)
  }
  RETURN c.id AS id, true AS created
UNION
  WITH row, dup WHERE dup IS NOT NULL
  RETURN dup.id AS id, false AS created
}
RETURN row.props.id AS requested_id, id, created
