// Benchmarks only (benchmarks/latency.py): drop the cube vector index to time its rebuild.
DROP INDEX memcube_embedding IF EXISTS
