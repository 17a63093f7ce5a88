// Evolution: a new preference that contradicts an older one supersedes it. Contradiction =
// same topic with the opposite polarity, or the same single-valued category (diet, budget:
// a person has one at a time). The old cube is kept, marked with when it stopped holding,
// and linked SUPERSEDED_BY; retrieval leaves it out unless asked for history.
// Each branch is an index seek on (scope, topic) or (scope, category), so the cost does not
// grow with the number of preferences the scope already holds.
UNWIND $rows AS row
MATCH (new:MemCube {id: row.id})
WHERE new.current
CALL (new, row) {
  MATCH (old:MemCube {scope: new.scope, topic: row.topic})
  WHERE row.topic IS NOT NULL AND old.polarity <> row.polarity
  RETURN old
  UNION
  MATCH (old:MemCube {scope: new.scope, category: row.category})
  WHERE row.category IN $single_valued
  RETURN old
}
WITH new, old
WHERE old:Preference AND old.current AND NOT old.id IN $batch_ids
  AND old.superseded_by IS NULL
SET old.superseded_by = new.id, old.valid_until = coalesce(new.valid_from, datetime())
MERGE (old)-[:SUPERSEDED_BY {at: datetime()}]->(new)
RETURN old.id AS old, new.id AS new
