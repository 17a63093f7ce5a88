// Delete the nodes of stale artifacts whose files are gone.
UNWIND $ids AS id
MATCH (kv:Artifact {id: id})
WHERE coalesce(kv.stale, false)
DETACH DELETE kv
RETURN count(*) AS deleted
