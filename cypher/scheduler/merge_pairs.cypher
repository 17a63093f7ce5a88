// Near-duplicate candidates: up to `$batch` live cubes not yet compared in their current
// version (dedup_checked_vid <> vid), each compared by exact cosine with the other live cubes
// of the same scope and kind. A bounded pairwise scan rather than the shared ANN index: the
// index spans every user, so other users' identical phrasings could crowd a scope's own
// duplicate out of the top k. Cost per tick: batch x scope size. `$min_score` is on Neo4j's
// scale, (1 + cosine) / 2. Heat (decayed to `$now`) and creation time come along so the colder,
// then older, cube of a pair is the one merged away. Every compared cube is returned (`near`
// empty when it has no duplicate) so the merge write can mark them all as checked.
// Scopes in play: those `$actor` may write, or every scope when `$actor` is null (a run over
// the whole graph). Collected first so the cube match is an index seek on :MemCube(scope).
CALL () {
  OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope)
  RETURN s.id AS scope
  UNION
  WITH $actor AS a WHERE a IS NULL
  MATCH (s:Scope) RETURN s.id AS scope
}
WITH collect(scope) AS scopes
MATCH (c:MemCube)
WHERE c.scope IN scopes AND c.current AND c.status IN ['generated', 'activated']
  AND c.embedding IS NOT NULL
  AND (c.dedup_checked_vid IS NULL OR c.dedup_checked_vid <> c.vid)
WITH c ORDER BY c.created_at DESC LIMIT $batch
CALL (c) {
  MATCH (o:MemCube {scope: c.scope})
  WHERE o <> c AND o.current AND o.kind = c.kind AND o.status IN ['generated', 'activated']
    AND o.embedding IS NOT NULL
  WITH o, vector.similarity.cosine(c.embedding, o.embedding) AS score
  WHERE score >= $min_score
  WITH o, score,
    ($now.epochMillis - coalesce(o.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
  RETURN collect({vid: o.vid, id: o.id, score: score, created_at: o.created_at,
    heat: coalesce(o.heat, 0.0) * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END)}) AS near
}
WITH c, near,
  ($now.epochMillis - coalesce(c.heat_at, $now).epochMillis) / 1000.0 / $half_life_s AS lives
RETURN c.vid AS vid, c.id AS id, c.created_at AS created_at, near,
  coalesce(c.heat, 0.0) * 0.5 ^ (CASE WHEN lives > 0 THEN lives ELSE 0.0 END) AS heat
