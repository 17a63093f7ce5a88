// Opens every write transaction that stores new memory (add, remember, import).
// Checks, in one read, that the actor may write the target scope and may write as the owner:
// the owner is the actor itself, or a principal that let the actor write its own scope (consent
// given by a grant; a group membership someone else arranged grants nothing on one's behalf).
// Then takes write locks on the owner and the scope, held to commit: an erasure of the owner
// (cubes/purge_lock) waits for this write, or this write waits for the erasure and then fails
// on the deleted nodes, so nothing of an erased principal can outlive its purge.
OPTIONAL MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (owner:Principal {id: $owner})
WITH actor, owner,
  EXISTS {
    MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(:Scope {id: $scope})
  } AS may_write_scope,
  owner IS NOT NULL AND ($owner = $actor OR EXISTS {
    MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(:Scope {id: $owner_scope})
  }) AS may_own
CALL (owner, may_write_scope, may_own) {
  WITH owner WHERE may_write_scope AND may_own
  MATCH (s:Scope {id: $scope})
  SET owner.last_write_at = datetime(), s.last_write_at = datetime()
}
RETURN actor IS NOT NULL AS actor_exists, may_write_scope, may_own
