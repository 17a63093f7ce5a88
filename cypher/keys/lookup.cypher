// The live key with this sha256, if any. Read on every request (no process cache), so a
// revoked key fails at once on every worker.
MATCH (k:ApiKey {hash: $hash})
WHERE k.revoked_at IS NULL
RETURN k {.id, .principal, .admin, .label, .created_at, .created_by, .revoked_at} AS key
