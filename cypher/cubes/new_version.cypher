// Make a new version of a cube: the old node stays (readable through history) but loses its
// embedding and search text, so indexes see only the new one. PREVIOUS_VERSION points back.
// The unique constraint on `vid` makes a concurrent second update of the same version fail.
// The live key moves to the new version unless another live cube of the scope already holds
// the new text (then the update stands, as a second copy the merge pass can fold).
MATCH (old:MemCube {vid: $vid})
WHERE old.current
REMOVE old.live_key
CREATE (new:MemCube)
SET new = old {.*, live_key: null, vid: old.id + ':v' + toString(old.version + 1),
               version: old.version + 1}
SET new:$(labels(old))
SET new.text = $text, new.search_text = $text, new.embedding = $embedding,
    new.content_hash = $content_hash, new.attributes_json = coalesce($attributes_json, old.attributes_json),
    new.updated_at = datetime(), new.updated_by = $actor, new.change_reason = $reason,
    new.current = true
SET old.current = false, old.replaced_at = datetime()
REMOVE old.embedding, old.search_text
CREATE (new)-[:PREVIOUS_VERSION]->(old)
WITH old, new, old.scope + '|' + $content_hash AS key
OPTIONAL MATCH (holder:MemCube {live_key: key})
SET new.live_key = CASE WHEN holder IS NULL AND new.status IN ['generated', 'activated']
                        THEN key END
WITH DISTINCT old, new
MATCH (old)-[:IN_SCOPE]->(s:Scope)
CREATE (new)-[:IN_SCOPE]->(s)
WITH old, new
CALL (old, new) {
  MATCH (old)-[d:DERIVED_FROM]->(e:Episode)
  CREATE (new)-[:DERIVED_FROM {extractor: d.extractor, at: d.at}]->(e)
}
CALL (old, new) {
  MATCH (old)-[:ABOUT]->(n:Entity)
  MERGE (new)-[:ABOUT]->(n)
}
RETURN new.id AS id, new.version AS version
