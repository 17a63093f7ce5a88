// System database: create the configured user (local server provisioning, `graphmem neo4j up`).
CREATE USER $user IF NOT EXISTS SET PASSWORD $password CHANGE NOT REQUIRED
