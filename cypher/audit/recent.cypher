// The latest audit events for a principal (as actor or as the subject of the action).
MATCH (a:AuditEvent)
WHERE a.actor = $principal OR a.subject = $principal
RETURN a {.*} AS event
ORDER BY a.at DESC
LIMIT $limit
