// Lookup indexes for the filters every query applies (scope, status, owner, logical id).
CREATE INDEX memcube_id IF NOT EXISTS FOR (c:MemCube) ON (c.id);
CREATE INDEX memcube_scope IF NOT EXISTS FOR (c:MemCube) ON (c.scope);
CREATE INDEX memcube_status IF NOT EXISTS FOR (c:MemCube) ON (c.status);
CREATE INDEX memcube_owner IF NOT EXISTS FOR (c:MemCube) ON (c.owner);
CREATE INDEX memcube_hash IF NOT EXISTS FOR (c:MemCube) ON (c.scope, c.content_hash);
CREATE INDEX memcube_scope_kind IF NOT EXISTS FOR (c:MemCube) ON (c.scope, c.kind);
CREATE INDEX memcube_scope_topic IF NOT EXISTS FOR (c:MemCube) ON (c.scope, c.topic);
CREATE INDEX memcube_scope_category IF NOT EXISTS FOR (c:MemCube) ON (c.scope, c.category);
CREATE INDEX episode_scope IF NOT EXISTS FOR (e:Episode) ON (e.scope);
CREATE INDEX episode_owner IF NOT EXISTS FOR (e:Episode) ON (e.owner);
CREATE INDEX entity_scope_norm IF NOT EXISTS FOR (e:Entity) ON (e.scope, e.norm);
CREATE INDEX episode_owner_session IF NOT EXISTS FOR (e:Episode) ON (e.owner, e.session_id);
CREATE INDEX promotion_scope_status IF NOT EXISTS FOR (r:PromotionRequest) ON (r.scope, r.status);
CREATE INDEX audit_actor IF NOT EXISTS FOR (a:AuditEvent) ON (a.actor);
CREATE INDEX audit_scope IF NOT EXISTS FOR (a:AuditEvent) ON (a.scope);
// The principal that owns a node (user:<id> or agent:<id>): erasure matches on it, so a user
// and an agent with the same name never erase each other's memory.
CREATE INDEX memcube_owner_id IF NOT EXISTS FOR (c:MemCube) ON (c.owner_id);
CREATE INDEX episode_owner_id IF NOT EXISTS FOR (e:Episode) ON (e.owner_id);
CREATE INDEX entity_owner_id IF NOT EXISTS FOR (e:Entity) ON (e.owner_id);
