// Benchmarks only: the cube vector index of cypher/schema/003_search.cypher, created again
// (without waiting for it: the caller polls bench/index_state to time the build).
CREATE VECTOR INDEX memcube_embedding IF NOT EXISTS
FOR (c:MemCube) ON c.embedding
OPTIONS {indexConfig: {`vector.dimensions`: $dim, `vector.similarity_function`: 'cosine'}}
