// Erasure: delete everything of one principal (all versions of its cubes anywhere, its
// episodes, entities, scope, principal and the audit events that name it). Irreversible by
// design. Matches on `owner_id` (the principal id), never the bare name, so user:x and agent:x
// never erase each other. Groups the principal created forget their creator, so a later user
// of the same name cannot claim them.
MATCH (u:Principal {id: $principal})
OPTIONAL MATCH (u)-[:OWNS]->(own:Scope)
WHERE own.owner = $principal
WITH u, collect(own.id) AS own_scopes
CALL (u, own_scopes) {
  MATCH (c:MemCube) WHERE c.owner_id = $principal OR c.scope IN own_scopes
  DETACH DELETE c
  RETURN count(*) AS cubes
}
CALL (own_scopes) {
  MATCH (e:Episode) WHERE e.owner_id = $principal OR e.scope IN own_scopes
  DETACH DELETE e
  RETURN count(*) AS episodes
}
CALL (own_scopes) {
  MATCH (n:Entity) WHERE n.owner_id = $principal OR n.scope IN own_scopes
  DETACH DELETE n
  RETURN count(*) AS entities
}
CALL (own_scopes) {
  MATCH (a:AuditEvent) WHERE a.actor = $principal OR a.subject = $principal OR a.scope IN own_scopes
  DETACH DELETE a
  RETURN count(*) AS audit_events
}
CALL () {
  MATCH (g:Principal {kind: 'group', creator: $principal})
  SET g.creator = null, g.creator_erased_at = datetime()
}
CALL (own_scopes) {
  MATCH (s:Scope) WHERE s.id IN own_scopes
  DETACH DELETE s
  RETURN count(*) AS scopes
}
DETACH DELETE u
RETURN cubes, episodes, entities, audit_events, scopes
