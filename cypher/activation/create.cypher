// An Activation MemCube (:MemCube:Activation:KVCache): the KV cache of one ordered memory set,
// in the scope of its sources (never wider), DERIVED_FROM each source's exact version. Created
// only when every source is current, live, in that one scope and readable by the actor; no row
// otherwise. The cache's files live at `path`; the node is what decides whether they may be used.
MATCH (actor:Principal {id: $actor})
UNWIND range(0, size($source_vids) - 1) AS i
MATCH (c:MemCube {vid: $source_vids[i]})
WHERE c.current AND c.status IN ['generated', 'activated'] AND c.memory_type = 'plaintext'
  AND EXISTS { (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(:Scope {id: c.scope}) }
WITH collect(c) AS sources, collect(DISTINCT c.scope) AS scopes
WHERE size(sources) = size($source_vids) AND size(scopes) = 1
MATCH (s:Scope {id: scopes[0]})
CREATE (kv:MemCube:Activation:KVCache:Artifact {
  id: $id, vid: $id + ':v1', version: 1, current: true, kind: 'kv_cache',
  memory_type: 'activation', status: 'generated', stale: false, scope: s.id,
  scope_key: s.key, owner: head(sources).owner, owner_id: head(sources).owner_id,
  text: $description, model_id: $model_id, model_fingerprint: $model_fingerprint,
  adapter_id: $adapter_id, prefix_sha256: $prefix_sha256, token_count: $token_count,
  bytes: $bytes, path: $path, source_vids: $source_vids, created_by: $actor,
  created_at: datetime(), updated_at: datetime(), hits: 0, heat: 0.0
})
CREATE (kv)-[:IN_SCOPE]->(s)
WITH kv, sources
CALL (kv, sources) {
  UNWIND sources AS c
  CREATE (kv)-[:DERIVED_FROM {at: datetime()}]->(c)
}
RETURN kv.id AS id, kv.scope AS scope
