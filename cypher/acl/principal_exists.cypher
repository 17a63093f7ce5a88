// Whether a principal exists (reads and grants never create one).
OPTIONAL MATCH (p:Principal {id: $principal})
RETURN p IS NOT NULL AS exists
