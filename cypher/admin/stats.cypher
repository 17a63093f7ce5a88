// Counts per node kind and cube status, for `graphmem neo4j status` and the demo.
CALL () {
  MATCH (c:MemCube) WHERE c.current
  RETURN count(c) AS cubes
}
CALL () {
  MATCH (e:Episode) RETURN count(e) AS episodes
}
CALL () {
  MATCH (n:Entity) RETURN count(n) AS entities
}
CALL () {
  MATCH (p:Principal) RETURN count(p) AS principals
}
CALL () {
  MATCH (a:AuditEvent) RETURN count(a) AS audit_events
}
RETURN cubes, episodes, entities, principals, audit_events
