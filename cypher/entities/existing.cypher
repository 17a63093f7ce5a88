// Which of these entity ids are already stored: only new names need resolution by meaning.
UNWIND $ids AS nid
MATCH (e:Entity {id: nid})
RETURN e.id AS id
