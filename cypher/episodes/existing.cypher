// Which of these episode ids are already stored: only new turns go to the extractor, so
// re-ingesting a conversation extracts and writes nothing.
UNWIND $ids AS eid
MATCH (e:Episode {id: eid})
RETURN e.id AS id
