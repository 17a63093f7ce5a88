// Names a principal speaks under (the `name` of its own messages: "Caroline"), kept on the
// principal so that a question naming it ("What did Caroline research?") can be read, by that
// principal, as a question about "I". Runs inside the write that stored the messages.
MATCH (p:Principal {id: $principal})
SET p.names = coalesce(p.names, []) + [n IN $names WHERE NOT n IN coalesce(p.names, [])]
RETURN size(p.names) AS names
