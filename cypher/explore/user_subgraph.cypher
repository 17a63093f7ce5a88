// Explore a user's memory in Neo4j Browser: current cubes, the turns they came from, the
// entities they are about. Set `:param user => 'alice'` first.
MATCH (c:MemCube {owner: $user})
WHERE c.current
OPTIONAL MATCH (c)-[d:DERIVED_FROM]->(e:Episode)
OPTIONAL MATCH (c)-[a:ABOUT]->(n:Entity)
RETURN c, d, e, a, n
LIMIT 300
