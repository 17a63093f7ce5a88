// Lifecycle transition of a cube's current version (archive = soft delete, restore, freeze...).
// `$from` lists the statuses the transition may start from; anything else is left untouched.
MATCH (c:MemCube {vid: $vid})
WHERE c.current AND c.status IN $from
SET c.status = $to, c.status_changed_at = datetime(), c.status_changed_by = $actor
RETURN c.id AS id, c.status AS status
