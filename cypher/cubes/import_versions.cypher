// Import cube versions from a bundle into a scope the actor may write. Idempotent on `vid`:
// versions already in this scope are left as they are. A version whose vid or logical id exists
// in another scope is not touched and not returned (the caller reports the conflict): a bundle
// can never graft versions onto another principal's cube. Chains are linked afterwards.
MATCH (actor:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH s LIMIT 1
UNWIND $rows AS row
OPTIONAL MATCH (existing:MemCube {vid: row.props.vid})
OPTIONAL MATCH (foreign:MemCube {id: row.props.id})
  WHERE foreign.scope <> s.id
WITH s, row, existing, count(foreign) AS foreign_versions
WHERE (existing IS NULL OR existing.scope = s.id) AND foreign_versions = 0
MERGE (c:MemCube {vid: row.props.vid})
  ON CREATE SET c = row.props, c.scope = s.id, c.scope_key = s.key, c.imported_at = datetime(), c.imported_by = $actor,
    c.embedding = CASE WHEN row.props.current THEN row.embedding ELSE null END,
    c.search_text = CASE WHEN row.props.current THEN row.props.text ELSE null END
SET c:$(row.labels)
MERGE (c)-[:IN_SCOPE]->(s)
WITH s, c, row, existing IS NULL AS is_new, s.id + '|' + row.props.content_hash AS key
OPTIONAL MATCH (holder:MemCube {live_key: key})
SET c.live_key = CASE
    WHEN NOT is_new THEN c.live_key
    WHEN c.current AND c.status IN ['generated', 'activated'] AND holder IS NULL THEN key
  END
WITH c, row, is_new
CALL (c, row) {
  UNWIND row.episode_ids AS eid
  MATCH (e:Episode {id: eid})
  MERGE (c)-[:DERIVED_FROM]->(e)
}
RETURN c.vid AS vid, is_new
