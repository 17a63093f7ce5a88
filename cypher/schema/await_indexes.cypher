// Wait until every index is online (run after the numbered schema files).
CALL db.awaitIndexes(60)
