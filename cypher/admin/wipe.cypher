// Delete every GraphMem node (tests and benchmarks on a throwaway database only).
MATCH (n)
WHERE n:MemCube OR n:Episode OR n:Entity OR n:Principal OR n:Scope OR n:AuditEvent
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS
