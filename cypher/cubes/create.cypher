// Create MemCubes (version 1) in a scope the actor may write, with provenance and entity edges.
// Idempotent under concurrency: a current, live cube carries `live_key` = scope + content hash,
// which a uniqueness constraint guards, so MERGE on it either creates the cube or finds the one
// another writer (or an earlier row of this batch) created; never two. A duplicate gains the
// new turns as provenance (DERIVED_FROM) and `created` = false.
// `search_text` (what the full-text index reads) is the text, or the text with its context for
// a raw turn (the turns before and after it: a reply means little without its question).
// Labels: MemCube + memory type + kind (e.g. :Plaintext:Preference).
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH s LIMIT 1
UNWIND $rows AS row
MERGE (c:MemCube {live_key: s.id + '|' + row.props.content_hash})
  ON CREATE SET c = row.props,
      c.live_key = s.id + '|' + row.props.content_hash,
      c.vid = row.props.id + ':v1', c.version = 1, c.current = true,
      c.scope = s.id, c.scope_key = s.key, c.created_by = $actor,
      c.created_at = datetime(), c.updated_at = datetime(),
      c.embedding = row.embedding, c.search_text = coalesce(row.search_text, row.props.text),
      c.hits = 0, c.heat = 0.0
WITH s, row, c, c.id = row.props.id AS created
CALL (s, row, c, created) {
  WITH s, row, c WHERE created
  SET c:$(row.labels)
  CREATE (c)-[:IN_SCOPE]->(s)
}
CALL (c, row) {
  UNWIND row.episode_ids AS eid
  MATCH (e:Episode {id: eid})
  MERGE (c)-[d:DERIVED_FROM]->(e)
    ON CREATE SET d.extractor = row.props.extractor, d.at = datetime()
}
CALL (c, row) {
  UNWIND row.entity_ids AS nid
  MATCH (n:Entity {id: nid})
  MERGE (c)-[:ABOUT]->(n)
}
RETURN row.props.id AS requested_id, c.id AS id, created
