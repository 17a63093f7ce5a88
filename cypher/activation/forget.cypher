// Delete the nodes of stale caches whose files are gone.
UNWIND $ids AS id
MATCH (kv:KVCache {id: id})
WHERE coalesce(kv.stale, false)
DETACH DELETE kv
RETURN count(*) AS deleted
