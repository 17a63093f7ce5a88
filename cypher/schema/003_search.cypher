// Search indexes. Only current versions carry `embedding` and `search_text`.
// `scope_key` (one token per scope) is indexed beside the text so a full-text query can be
// narrowed to the actor's scopes inside Lucene; the Cypher WHERE still enforces the ACL.
CREATE VECTOR INDEX memcube_embedding IF NOT EXISTS
FOR (c:MemCube) ON c.embedding
OPTIONS {indexConfig: {`vector.dimensions`: $dim, `vector.similarity_function`: 'cosine'}};
// Preferences get their own vector index (current preference cubes carry the :Preference
// label), so the preference channel finds a user's nearest preferences among all preferences
// instead of among all cubes.
CREATE VECTOR INDEX preference_embedding IF NOT EXISTS
FOR (c:Preference) ON c.embedding
OPTIONS {indexConfig: {`vector.dimensions`: $dim, `vector.similarity_function`: 'cosine'}};
// The English analyzer stems ("seats" matches "seat") and drops stop words.
CREATE FULLTEXT INDEX memcube_fulltext IF NOT EXISTS
FOR (c:MemCube) ON EACH [c.search_text, c.scope_key]
OPTIONS {indexConfig: {`fulltext.analyzer`: 'english'}};
CREATE FULLTEXT INDEX entity_fulltext IF NOT EXISTS
FOR (e:Entity) ON EACH [e.name, e.aliases_text, e.scope_key]
OPTIONS {indexConfig: {`fulltext.analyzer`: 'english'}};
