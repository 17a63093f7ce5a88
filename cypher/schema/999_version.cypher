// Record which schema version the graph carries (graphmem schema apply sets it).
MERGE (v:SchemaVersion {id: 'graphmem'})
SET v.version = $version, v.applied_at = datetime()
RETURN v.version AS version;
