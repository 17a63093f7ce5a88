// Benchmarks only: how far an index's population has got.
SHOW INDEXES YIELD name, state, populationPercent
WHERE name = $name
RETURN state, populationPercent AS percent
