// Import cube versions from a bundle into a scope the actor may write. Idempotent on `vid`:
// versions already in this scope are left as they are; a vid that exists in another scope is
// not touched and not returned (the caller reports the conflict). Chains are linked afterwards.
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH s LIMIT 1
UNWIND $rows AS row
OPTIONAL MATCH (existing:MemCube {vid: row.props.vid})
WITH s, row, existing
WHERE existing IS NULL OR existing.scope = s.id
MERGE (c:MemCube {vid: row.props.vid})
  ON CREATE SET c = row.props, c.scope = s.id, c.scope_key = s.key, c.imported_at = datetime(), c.imported_by = $actor,
    c.embedding = CASE WHEN row.props.current THEN row.embedding ELSE null END,
    c.search_text = CASE WHEN row.props.current THEN row.props.text ELSE null END
SET c:$(row.labels)
MERGE (c)-[:IN_SCOPE]->(s)
WITH c, row, existing IS NULL AS is_new
CALL (c, row) {
  UNWIND row.episode_ids AS eid
  MATCH (e:Episode {id: eid})
  MERGE (c)-[:DERIVED_FROM]->(e)
}
RETURN c.vid AS vid, is_new
