// Chain a session's turns in order (NEXT), so walks can follow the conversation.
UNWIND $pairs AS pair
MATCH (a:Episode {id: pair.prev}), (b:Episode {id: pair.next})
MERGE (a)-[:NEXT]->(b)
RETURN count(*) AS linked
