// Several cubes by id (current versions) that the actor may read, in one round trip: what
// `add` returns to its caller right after writing them, and the hits a search returns once
// ranking has chosen them. Timestamps come as ISO text: the Python driver builds each temporal
// value at ~60 us, more than the rest of a cube together (graphmem/store/neo4j_store.py parses
// them).
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
UNWIND $ids AS cid
MATCH (c:MemCube {id: cid})
WHERE c.current AND c.scope IN readable
RETURN c {.*, embedding: null, search_text: null,
  created_at: toString(c.created_at), updated_at: toString(c.updated_at),
  expires_at: toString(c.expires_at), heat_at: toString(c.heat_at),
  hot_since: toString(c.hot_since), last_hit_at: toString(c.last_hit_at),
  status_changed_at: toString(c.status_changed_at), imported_at: toString(c.imported_at)}
  AS cube,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids,
  [(c)-[:ABOUT]->(n:Entity) | n.name] AS entities,
  [(p:Principal)-[:CAN_READ]->(:Scope {id: c.scope}) | p.id] AS access
