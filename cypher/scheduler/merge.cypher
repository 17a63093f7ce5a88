// Merge near-duplicates: `$rows` = [{loser, survivor, cosine}] (version ids). The loser becomes
// `merged`, keeps its text and provenance, and points at the survivor with MERGED_INTO, so
// nothing is lost and search returns only the survivor. Both must still be current, live and
// in one scope (and, with an `$actor`, writable by it). `$checked` lists every version compared
// this tick: they are marked so later ticks only compare new or changed cubes.
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope)
WITH collect(DISTINCT s.id) AS writable
CALL (writable) {
  UNWIND $checked AS vid
  MATCH (c:MemCube {vid: vid})
  WHERE c.current AND ($actor IS NULL OR c.scope IN writable)
  SET c.dedup_checked_vid = c.vid
}
UNWIND $rows AS row
MATCH (loser:MemCube {vid: row.loser}), (survivor:MemCube {vid: row.survivor})
WHERE loser.current AND survivor.current AND loser.scope = survivor.scope
  AND loser.status IN ['generated', 'activated'] AND survivor.status IN ['generated', 'activated']
  AND ($actor IS NULL OR loser.scope IN writable)
REMOVE loser.live_key
SET loser.status = 'merged', loser.merged_into = survivor.id,
    loser.status_changed_at = $now, loser.status_changed_by = $by,
    loser.status_reason = 'near_duplicate'
MERGE (loser)-[m:MERGED_INTO]->(survivor)
  ON CREATE SET m.cosine = row.cosine, m.at = $now, m.by = $by
RETURN loser.id AS id, survivor.id AS survivor, row.cosine AS cosine
