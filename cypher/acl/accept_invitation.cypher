// The invited principal itself turns its invitation into membership.
MATCH (m:Principal {id: $actor})-[i:INVITED_TO]->(g:Principal {id: $group})
MERGE (m)-[j:MEMBER_OF]->(g)
  ON CREATE SET j.since = datetime(), j.invited_by = i.by
DELETE i
RETURN g.id AS group
