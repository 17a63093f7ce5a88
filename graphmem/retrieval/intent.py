"""What a query asks for, read from its wording: a recommendation or the asker's own
preferences, or facts about someone.

It decides whether the kind prior for preference cubes applies. On PrefEval every question asks
for a suggestion and the asker's stated preference is the memory to find, so lifting preference
cubes above the semantically closer chit-chat pays (recall@5 at 300 distractor turns 0.94 ->
0.97). On a question about what someone did ("What did Caroline research?") the same lift
pushes any preference sentence above the turn that answers it.

The rule is grammatical, not a topic list: a request for advice speaks to the assistant or
about the asker (first or second person: "can you suggest", "what should I", "for me"), or
names the speech act or the attitude itself (recommend, suggest, advice, prefer, favourite).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")

# The asker or the assistant as a participant: "I", "me", "my", "we", "you", "your" ...
PERSONAL = frozenset(
    "i i'm i've i'd i'll me my mine myself we we're we've us our ours ourselves "
    "you you're you've you'd you'll your yours yourself".split()
)

# Words that name the request for a suggestion or a stated attitude (prefixes of their forms).
REQUEST_STEMS = (
    "recommend", "suggest", "advice", "advis", "idea", "tip", "prefer", "favorite", "favourite",
)


def asks_for_preference(query: str) -> bool:
    """True when ``query`` asks for a recommendation or for the asker's preferences."""
    words = _WORD.findall(query.lower())
    if any(w in PERSONAL for w in words):
        return True
    return any(w.startswith(REQUEST_STEMS) for w in words)
