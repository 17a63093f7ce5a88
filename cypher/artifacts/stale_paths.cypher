// Files of artifacts (KV caches, adapters) that may no longer be used (stale, or about to be erased with a principal),
// so the caller can delete them.
MATCH (kv:Artifact)
WHERE ($principal IS NULL AND coalesce(kv.stale, false))
   OR ($principal IS NOT NULL AND (kv.owner_id = $principal OR kv.scope IN $scopes))
RETURN kv.id AS id, kv.path AS path
