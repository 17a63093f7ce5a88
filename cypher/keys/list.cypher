// Keys (never their hashes), of one principal or, for $principal = null, of everyone.
MATCH (k:ApiKey)
WHERE $principal IS NULL OR k.principal = $principal
RETURN k {.id, .principal, .admin, .label, .created_at, .created_by, .revoked_at} AS key
ORDER BY k.created_at, k.id
