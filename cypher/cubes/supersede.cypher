// Evolution: a new preference that contradicts an older one supersedes it. Contradiction =
// same topic with the opposite polarity, or the same single-valued category (diet, budget:
// a person has one at a time). The old cube is kept, marked with when it stopped holding,
// and linked SUPERSEDED_BY; retrieval leaves it out unless asked for history.
UNWIND $rows AS row
MATCH (new:MemCube {id: row.id})
WHERE new.current
MATCH (old:MemCube:Preference {scope: new.scope})
WHERE old.current AND NOT old.id IN $batch_ids AND old.superseded_by IS NULL
  AND (
    (row.topic IS NOT NULL AND old.topic = row.topic AND old.polarity <> row.polarity)
    OR (row.category IN $single_valued AND old.category = row.category)
  )
SET old.superseded_by = new.id, old.valid_until = coalesce(new.valid_from, datetime())
MERGE (old)-[:SUPERSEDED_BY {at: datetime()}]->(new)
RETURN old.id AS old, new.id AS new
