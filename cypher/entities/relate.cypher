// Typed relations between entities of one scope (e.g. sister_of, lives_in), with provenance.
UNWIND $rows AS row
MATCH (a:Entity {id: row.source}), (b:Entity {id: row.target})
MERGE (a)-[r:RELATED {type: row.relation}]->(b)
  ON CREATE SET r.created_at = datetime(), r.episode_ids = row.episode_ids, r.extractor = row.extractor
RETURN count(r) AS related
