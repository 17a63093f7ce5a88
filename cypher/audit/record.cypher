// One audit event per API call (reads included): who did what to which cubes, and the result.
// Written in the same transaction as the operation it records.
CREATE (a:AuditEvent {
  id: randomUUID(), at: datetime(), actor: $actor, action: $action,
  targets: $targets, scope: $scope, subject: $subject, result: $result, detail: $detail
})
RETURN a.id AS id
