// Lifecycle transition of a cube's current version (archive = soft delete, restore, freeze...).
// `$from` lists the statuses the transition may start from; anything else is left untouched.
// Leaving the live statuses drops the live key (so the same text may be stored again);
// coming back takes it again unless another live cube of the scope holds that text now.
MATCH (c:MemCube {vid: $vid})
WHERE c.current AND c.status IN $from
OPTIONAL MATCH (holder:MemCube {live_key: c.scope + '|' + c.content_hash})
WHERE holder <> c
SET c.status = $to, c.status_changed_at = datetime(), c.status_changed_by = $actor,
    c.live_key = CASE WHEN $to IN ['generated', 'activated'] AND holder IS NULL
                      THEN c.scope + '|' + c.content_hash END
RETURN c.id AS id, c.status AS status
