// The current version of a cube with whether the actor may read and write its scope;
// the caller tells "not found" (unreadable) from "read-only" before changing anything.
MATCH (actor:Principal {id: $actor})
MATCH (c:MemCube {id: $id})
WHERE c.current
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[r:CAN_READ]->(:Scope {id: c.scope})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[w:CAN_WRITE]->(:Scope {id: c.scope})
WITH c, count(r) > 0 AS can_read, count(w) > 0 AS can_write
RETURN c.vid AS vid, c.version AS version, c.status AS status, c.scope AS scope,
  c.text AS text, c.owner AS owner, c.kind AS kind, can_read, can_write
