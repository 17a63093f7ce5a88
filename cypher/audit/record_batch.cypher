// Audit events of reads that were buffered in process (search) and written together: one
// transaction per flush instead of one per call. Each event keeps the time of the call it
// records, not the time of the flush.
UNWIND $events AS ev
CREATE (a:AuditEvent {
  id: randomUUID(), at: ev.at, actor: ev.actor, action: ev.action, targets: ev.targets,
  scope: ev.scope, subject: ev.subject, result: ev.result, detail: ev.detail
})
RETURN count(a) AS written
