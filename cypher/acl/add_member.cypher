// Put a principal into a group; only the group's owner (the owner of its scope) may.
MATCH (owner:Principal {id: $actor})-[:OWNS]->(:Scope)<-[:OWNS]-(g:Principal {id: $group})
WITH DISTINCT g
MERGE (m:Principal {id: $member})
  ON CREATE SET m.kind = $kind, m.name = $name, m.created_at = datetime()
MERGE (m)-[:MEMBER_OF]->(g)
RETURN g.id AS group, m.id AS member
