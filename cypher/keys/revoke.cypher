// Revoke a live key; with $principal set, only that principal's own key.
MATCH (k:ApiKey {id: $id})
WHERE k.revoked_at IS NULL AND ($principal IS NULL OR k.principal = $principal)
SET k.revoked_at = datetime(), k.revoked_by = $actor
RETURN k {.id, .principal, .admin, .label, .created_at, .created_by, .revoked_at} AS key
