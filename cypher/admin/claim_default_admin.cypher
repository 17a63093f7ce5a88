// System database: replace the stock neo4j/neo4j password with the configured one
// (only for data directories whose first start did not go through `graphmem neo4j up`).
ALTER CURRENT USER SET PASSWORD FROM $old TO $new
