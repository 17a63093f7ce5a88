// A builder claims the oldest queued promotion request for its target (kv_cache, lora) with a lease: the claim is a
// (:BuildClaim {request}) node under a uniqueness constraint, so two builders racing for one
// request cannot both get it (the second fails on the constraint); an expired claim (a builder
// that died) is removed first, and its request can be claimed again.
OPTIONAL MATCH (old:BuildClaim) WHERE old.lease_until < $now
DETACH DELETE old
WITH count(*) AS _
MATCH (r:PromotionRequest {target: $target, status: 'queued'})
WHERE NOT EXISTS { MATCH (:BuildClaim {request: r.id}) }
  AND ($actor IS NULL OR EXISTS {
    MATCH (:Principal {id: $actor})-[:MEMBER_OF*0..3]->(:Principal)-[:CAN_WRITE]->(:Scope {id: r.scope})
  })
WITH r ORDER BY r.created_at, r.id LIMIT 1
CREATE (:BuildClaim {request: r.id, builder: $by, lease_until: $lease_until})
RETURN r {.*} AS request
