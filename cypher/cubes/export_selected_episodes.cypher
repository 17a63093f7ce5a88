// The episodes that selected cubes derive from, those the actor may read, in conversation order.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (e:Episode)
WHERE e.id IN $ids AND e.scope IN readable
RETURN e {.*} AS episode
ORDER BY e.session_id, e.seq, e.id
