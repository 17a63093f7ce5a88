// What installing bundle cubes into $scope would meet: for each (id, content_hash), the
// current version of the cube with that (installed) id, and the live cube of $scope that
// already holds that content. Only for an actor that may write $scope (may_write is false
// and nothing is looked at otherwise, so a dry run cannot probe another principal's scope).
OPTIONAL MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(s:Scope {id: $scope})
WITH count(s) > 0 AS may_write
UNWIND $rows AS row
OPTIONAL MATCH (same:MemCube {id: row.id})
  WHERE may_write AND same.current AND same.scope = $scope
OPTIONAL MATCH (dup:MemCube {live_key: $scope + '|' + row.content_hash})
  WHERE may_write
RETURN may_write, row.id AS id, same.scope AS id_scope, same.vid AS id_vid,
  same.version AS id_version, same.content_hash AS id_hash, same.status AS id_status,
  dup.id AS duplicate_of
