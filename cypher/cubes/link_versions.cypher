// Rebuild PREVIOUS_VERSION edges for imported cubes (version n points at n-1).
UNWIND $ids AS cid
MATCH (c:MemCube {id: cid}), (p:MemCube {id: cid})
WHERE p.version = c.version - 1
MERGE (c)-[:PREVIOUS_VERSION]->(p)
RETURN count(*) AS linked
