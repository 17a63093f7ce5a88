// A Parametric MemCube (:MemCube:Parametric:LoRAAdapter:Artifact): a LoRA adapter distilled
// from some memories, in their one scope, owned by the principal it serves, DERIVED_FROM each
// source's exact version (so a new version, archive or merge of a source marks it stale in
// that transaction, as for KV caches). No row unless every source is current, live and readable.
MATCH (actor:Principal {id: $actor})
UNWIND $source_vids AS vid
MATCH (c:MemCube {vid: vid})
WHERE c.current AND c.status IN ['generated', 'activated'] AND c.memory_type = 'plaintext'
  AND EXISTS { (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(:Scope {id: c.scope}) }
WITH actor, collect(c) AS sources, collect(DISTINCT c.scope) AS scopes
WHERE size(sources) = size($source_vids) AND size(scopes) = 1
MATCH (s:Scope {id: scopes[0]})
CREATE (a:MemCube:Parametric:LoRAAdapter:Artifact {
  id: $id, vid: $id + ':v1', version: 1, current: true, kind: 'lora_adapter',
  memory_type: 'parametric', status: 'generated', stale: false, scope: s.id, scope_key: s.key,
  owner: actor.name, owner_id: actor.id, text: $description, base_model_id: $base_model_id,
  base_fingerprint: $base_fingerprint, examples_sha256: $examples_sha256, path: $path,
  bytes: $bytes, metrics_json: $metrics_json, source_vids: $source_vids, created_by: $actor,
  created_at: datetime(), updated_at: datetime(), hits: 0, heat: 0.0
})
CREATE (a)-[:IN_SCOPE]->(s)
WITH a, sources
CALL (a, sources) {
  UNWIND sources AS c
  CREATE (a)-[:DERIVED_FROM {at: datetime()}]->(c)
}
RETURN a.id AS id, a.scope AS scope
