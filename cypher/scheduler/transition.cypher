// Apply lifecycle transitions the scheduler chose: `$rows` = [{vid, reason}], moved from one of
// `$from` to `$to`. Each row re-checks that the version is still current and in an allowed
// status (a cube archived or updated since the scheduler's read is left alone), that it is not
// frozen, and, with an `$actor`, that the actor may write its scope.
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope)
WITH collect(DISTINCT s.id) AS writable
UNWIND $rows AS row
MATCH (c:MemCube {vid: row.vid})
WHERE c.current AND c.status IN $from AND c.status <> 'frozen'
  AND ($actor IS NULL OR c.scope IN writable)
SET c.status = $to, c.status_changed_at = $now, c.status_changed_by = $by,
    c.status_reason = row.reason,
    c.live_key = CASE WHEN $to IN ['generated', 'activated'] THEN c.live_key END
RETURN c.id AS id, row.reason AS reason
