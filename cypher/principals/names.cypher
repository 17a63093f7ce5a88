// The names the reading principal goes by: its id's name ("user:maya" → "maya") and the names
// it spoke under. Nothing for an unknown principal (reads never create one).
MATCH (p:Principal {id: $actor})
RETURN [split(p.id, ':')[-1]] + coalesce(p.names, []) AS names
