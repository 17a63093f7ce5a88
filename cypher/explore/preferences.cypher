// A user's preference subgraph: preferences, what they are about, superseded ones included.
// Set `:param user => 'alice'` first.
MATCH (p:Preference {owner: $user})
OPTIONAL MATCH (p)-[a:ABOUT]->(n:Entity)
OPTIONAL MATCH (p)-[s:SUPERSEDED_BY]->(newer:MemCube)
RETURN p, a, n, s, newer
LIMIT 300
