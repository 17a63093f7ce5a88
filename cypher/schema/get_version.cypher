// Which schema version the graph carries (null before `graphmem schema apply`).
OPTIONAL MATCH (v:SchemaVersion {id: 'graphmem'})
RETURN v.version AS version, v.applied_at AS applied_at
