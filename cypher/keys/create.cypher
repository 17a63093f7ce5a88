// A new API key for a principal (only its sha256 is stored: the caller shows the key once).
// The principal and its own scope are made sure of first (acl/ensure_principal, same
// transaction), as a first write would; the key is a node of its own, not linked to the
// principal, so erasing a user's memory (cubes/purge_user) leaves its keys to be revoked.
CREATE (k:ApiKey {id: $id, hash: $hash, principal: $principal, admin: $admin,
                  label: $label, created_at: datetime(), created_by: $created_by})
RETURN k {.id, .principal, .admin, .label, .created_at, .created_by, .revoked_at} AS key
