// Several cubes by id (current versions) that the actor may read, in one round trip: what
// `add` returns to its caller right after writing them.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
UNWIND $ids AS cid
MATCH (c:MemCube {id: cid})
WHERE c.current AND c.scope IN readable
RETURN c {.*, embedding: null, search_text: null} AS cube,
  [(c)-[:DERIVED_FROM]->(e:Episode) | e.id] AS episode_ids,
  [(c)-[:ABOUT]->(n:Entity) | n.name] AS entities,
  [(p:Principal)-[:CAN_READ]->(:Scope {id: c.scope}) | p.id] AS access
