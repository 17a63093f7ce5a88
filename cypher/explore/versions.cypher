// A cube's version chain. Set `:param id => '<cube id>'` first.
MATCH path = (c:MemCube {id: $id, current: true})-[:PREVIOUS_VERSION*0..]->(old:MemCube)
RETURN path
