// Graphs written before `owner_id` and `live_key` existed: derive them once. A node in an agent's
// own scope was written by that agent; everything else named its owner as a user.
MATCH (n) WHERE (n:MemCube OR n:Episode OR n:Entity) AND n.owner_id IS NULL AND n.owner IS NOT NULL
SET n.owner_id = CASE WHEN n.scope = 'scope:agent:' + n.owner THEN 'agent:' ELSE 'user:' END + n.owner;
// The oldest live cube of each (scope, content) keeps the key; later duplicates stay as they are
// (the scheduler's merge pass folds them).
MATCH (c:MemCube)
WHERE c.current AND c.status IN ['generated', 'activated'] AND c.live_key IS NULL
  AND c.content_hash IS NOT NULL
WITH c.scope + '|' + c.content_hash AS key, c ORDER BY c.created_at
WITH key, collect(c) AS cubes
WHERE NOT EXISTS { MATCH (:MemCube {live_key: key}) }
WITH key, head(cubes) AS keeper
SET keeper.live_key = key;
