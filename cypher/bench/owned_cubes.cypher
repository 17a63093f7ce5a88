// Benchmarks only: how many cubes a user owns (the synthetic fill keeps the queried user's
// share of the graph).
MATCH (c:MemCube {owner: $owner})
RETURN count(c) AS n
