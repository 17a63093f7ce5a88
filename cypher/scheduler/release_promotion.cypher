// A builder is done with a request (built or failed): the claim goes.
MATCH (c:BuildClaim {request: $request})
DELETE c
RETURN count(*) AS released
