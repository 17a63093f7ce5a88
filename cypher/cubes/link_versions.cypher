// Rebuild PREVIOUS_VERSION edges for imported cubes (version n points at n-1 of the same cube
// in the same scope).
UNWIND $ids AS cid
MATCH (c:MemCube {id: cid}), (p:MemCube {id: cid})
WHERE p.version = c.version - 1 AND p.scope = c.scope
MERGE (c)-[:PREVIOUS_VERSION]->(p)
RETURN count(*) AS linked
