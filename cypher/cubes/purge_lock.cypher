// First statement of an erasure: lock the principal and the scopes it owns (the same locks
// acl/begin_write takes), so writes in flight commit first and are then erased, and writes
// that start later wait and fail on the deleted nodes instead of leaving orphans.
MATCH (u:Principal {id: $principal})
SET u.erasing_at = datetime()
WITH u
OPTIONAL MATCH (u)-[:OWNS]->(own:Scope)
WHERE own.owner = $principal
SET own.erasing_at = datetime()
RETURN count(own) AS scopes
