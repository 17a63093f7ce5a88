// A user's episodes that the actor may read, in conversation order, for a portable bundle.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
MATCH (e:Episode)
WHERE e.owner = $user_id AND e.scope IN readable
RETURN e {.*} AS episode
ORDER BY e.session_id, e.seq, e.id
