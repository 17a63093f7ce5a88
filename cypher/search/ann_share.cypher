// The reader's share of the two shared vector indexes (graphmem/store/ann_share.py): every
// cube and every preference (count store), and those in scopes the reader can read (scope
// index). The ANN channels over-fetch by total / own; the store keeps the answer a while.
MATCH (actor:Principal {id: $actor})
OPTIONAL MATCH (actor)-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_READ]->(s:Scope)
WITH collect(DISTINCT s.id) AS readable
CALL () {
  MATCH (any_cube:MemCube)
  RETURN count(any_cube) AS cubes
}
CALL () {
  MATCH (any_pref:Preference)
  RETURN count(any_pref) AS preferences
}
CALL (readable) {
  MATCH (mine:MemCube)
  WHERE mine.scope IN readable
  RETURN count(mine) AS own_cubes
}
CALL (readable) {
  MATCH (mine:MemCube)
  WHERE mine.scope IN readable AND mine.kind = 'preference'
  RETURN count(mine) AS own_preferences
}
RETURN cubes, own_cubes, preferences, own_preferences
