// Invite a principal into a group; only the group's owner (the owner of its scope) may.
// An invitation grants nothing: the member joins (MEMBER_OF) only when it accepts
// (acl/accept_invitation), so nobody can be made to read, or be written for, a group's memory
// without consent. (The API creates no group principal here: a member group must exist.)
MATCH (owner:Principal {id: $actor})-[:OWNS]->(:Scope)<-[:OWNS]-(g:Principal {id: $group})
WITH DISTINCT g
MERGE (m:Principal {id: $member})
  ON CREATE SET m.kind = $kind, m.name = $name, m.created_at = datetime()
MERGE (m)-[i:INVITED_TO]->(g)
  ON CREATE SET i.by = $actor, i.at = datetime()
RETURN g.id AS group, m.id AS member, EXISTS { (m)-[:MEMBER_OF]->(g) } AS member_already
