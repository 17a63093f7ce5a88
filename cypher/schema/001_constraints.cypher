// Identity constraints: every node kind has one unique id. A cube's versions share `id`
// and differ in `vid` (id + ':v' + version), so two writers cannot create the same version.
CREATE CONSTRAINT memcube_vid IF NOT EXISTS FOR (c:MemCube) REQUIRE c.vid IS UNIQUE;
CREATE CONSTRAINT episode_id IF NOT EXISTS FOR (e:Episode) REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT principal_id IF NOT EXISTS FOR (p:Principal) REQUIRE p.id IS UNIQUE;
CREATE CONSTRAINT scope_id IF NOT EXISTS FOR (s:Scope) REQUIRE s.id IS UNIQUE;
CREATE CONSTRAINT audit_id IF NOT EXISTS FOR (a:AuditEvent) REQUIRE a.id IS UNIQUE;
CREATE CONSTRAINT promotion_request_id IF NOT EXISTS FOR (r:PromotionRequest) REQUIRE r.id IS UNIQUE;
CREATE CONSTRAINT schema_version_id IF NOT EXISTS FOR (v:SchemaVersion) REQUIRE v.id IS UNIQUE;
// Only a current, live (generated or activated) cube carries `live_key` = scope + '|' +
// content hash: at most one live cube per content and scope, even under concurrent writers.
CREATE CONSTRAINT memcube_live_key IF NOT EXISTS FOR (c:MemCube) REQUIRE c.live_key IS UNIQUE;
