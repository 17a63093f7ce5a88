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
from collections.abc import Callable, Iterable

from graphmem.text import words

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


# A question that opens by asking for a list of options ("What are some good pets for a small
# flat?", "Which is the best ...?") asks for suggestions even without a pronoun or a request
# verb; a question about what someone did rarely opens this way (2 of LoCoMo dev's 760).
_SUGGESTION_OPENER = re.compile(
    r"^\s*(?:what|which)\s+(?:are|is|would\s+be)\s+(?:some|a\s+few|the\s+best|good|a\s+good)\b",
    re.IGNORECASE)


def asks_for_preference(query: str) -> bool:
    """True when ``query`` asks for a recommendation or for the asker's preferences."""
    if _SUGGESTION_OPENER.match(query):
        return True
    words = _WORD.findall(query.lower())
    if any(w in PERSONAL for w in words):
        return True
    return any(w.startswith(REQUEST_STEMS) for w in words)


def named_in(query: str, names: Iterable[str]) -> set[str]:
    """The names (owner names: "caroline", "maya") that ``query`` mentions as whole words,
    case and punctuation aside ("What did Caroline's sister say?" names "caroline")."""
    text = f" {' '.join(words(query))} "
    found: set[str] = set()
    for name in names:
        spoken = " ".join(words(name))
        if spoken and f" {spoken} " in text:
            found.add(name)
    return found


# After these words a name is the subject ("When did Caroline ...", "Caroline and Tom ..."):
# it becomes "I"; anywhere else ("gave Caroline", "for Maya") it becomes "me".
_SUBJECT_BEFORE = frozenset(
    "did does do is was has have had will would can could should and or when where what how "
    "why who which that".split())
_AGREE = {"does i": "do I", "is i": "am I", "has i": "have I"}


def as_first_person(query: str, names: Iterable[str]) -> str | None:
    """``query`` as the named reader would ask it ("What did Caroline research?" asked by
    Caroline → "What did I research?"), or None when it names none of ``names``. Memories are
    stored in the speaker's own words ("I researched adoption agencies"), which a question
    about them in the third person is far from, for a sentence embedder."""
    spoken = sorted({n for n in names if n.strip()}, key=len, reverse=True)
    if not spoken:
        return None
    alternation = "|".join(re.escape(n) for n in spoken)
    pattern = re.compile(rf"\b({alternation})(?:'s|\u2019s)?\b", re.IGNORECASE)

    def person(m: re.Match[str]) -> str:
        if m.group(0).lower().endswith("s") and m.group(0)[-2] in "'\u2019":
            return "my"
        before = _WORD.findall(query[: m.start()].lower())
        return "I" if not before or before[-1] in _SUBJECT_BEFORE else "me"

    rewritten, count = pattern.subn(person, query)
    if not count:
        return None
    for wrong, right in _AGREE.items():
        rewritten = re.sub(rf"\b{wrong}\b", _cased_like(right), rewritten, flags=re.IGNORECASE)
    return rewritten


def _cased_like(right: str) -> Callable[[re.Match[str]], str]:
    """A replacement that keeps the capital of the words it replaces ("Is I" → "Am I")."""

    def swap(m: re.Match[str]) -> str:
        head = right[0].upper() if m.group(0)[0].isupper() else right[0]
        return head + right[1:]

    return swap


# Places and acts of eating, beside the extractor's food words: a request that touches food
# must respect the asker's diet and allergies, however far "restaurant" is from "peanuts" for
# a sentence embedder.
_DINING = frozenset(
    "restaurant restaurants cafe cafes bistro diner eatery menu recipe recipes cook cooking "
    "dining dine eat eating meal meals dinner dinners lunch breakfast brunch snack snacks "
    "food foods cuisine dish dishes takeout catering grocery groceries bakery".split())


# Words of a question about someone's aims ("What is Maya training for?", "What are her
# plans?"): the memories that answer it were stated as goals, which the extractor marks.
_AIMS = frozenset(
    "goal goals plan plans planning aim aims aiming training preparing prepare ambition "
    "ambitions dream dreams hoping intend intends intending".split())


def touches_food(query: str) -> bool:
    """True when ``query`` is about eating: its words meet the dining or the food lexicon."""
    from graphmem.extractors.lexicon import FOODS

    found = set(words(query))
    return bool(found & _DINING) or any(w in FOODS or w.rstrip("s") in FOODS for w in found)


def categories_called_for(query: str) -> frozenset[str]:
    """Memory categories a query needs whatever its wording's distance to them: a food request
    the asker's diet and allergies, a question about aims the stated goals."""
    out: set[str] = set()
    if touches_food(query):
        out |= {"diet", "allergy"}
    if set(words(query)) & _AIMS:
        out.add("goal")
    return frozenset(out)
