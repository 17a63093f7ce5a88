// A stored turn's episode cube learns the turn that followed it (the reply it got), appended
// to its search text only: `text`, the version and the embedding stay as they were.
UNWIND $rows AS row
MATCH (c:MemCube {current: true, kind: 'episode'})-[:DERIVED_FROM]->(:Episode {id: row.episode})
WHERE c.search_text IS NOT NULL AND c.scope = $scope
SET c.search_text = c.search_text + '\n' + row.text
RETURN count(c) AS extended
