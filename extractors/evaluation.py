"""Measure an extractor on PrefEval without hand labels: shared by the tests and the benchmark.

PrefEval gives each preference as a sentence but not its polarity, and 500 items are too
many to label by hand honestly. The expected polarity is therefore a transparent heuristic
(`heuristic_polarity`): negative when the sentence contains a negation or aversion cue,
positive otherwise. It is a label of the *sentence*, not of the extractor's rules, and it is
wrong in known ways ("I prefer games without ads" is labelled negative; a sentence that
states a like and a dislike gets one label), so the scores are lower bounds on agreement, not
accuracy. The cue list below is fixed; do not tune it to what the extractor produces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import Extractor, Polarity, Turn

NEGATIVE_CUES = re.compile(
    r"\b(?:not|never|no|nor|without|avoid\w*|dislik\w*|hate\w*|loath\w*|despis\w*|detest\w*|"
    r"refus\w*|allergic|allerg\w*|avers\w*|against|oppos\w*|fear\w*|phobia|scared|afraid|"
    r"uncomfortable|can't\s+stand|cannot\s+stand|can't|cannot|won't|don't|doesn't|isn't|"
    r"aren't|didn't|wouldn't)\b|n't\b",
    re.IGNORECASE,
)


def heuristic_polarity(preference: str) -> Polarity:
    """Negative if the sentence has a negation/aversion cue, else positive (a heuristic)."""
    text = preference.replace("\u2019", "'")
    return "negative" if NEGATIVE_CUES.search(text) else "positive"


@dataclass(frozen=True)
class PrefItem:
    """One PrefEval item: the stated preference and the user turns that carry it."""

    topic_file: str
    preference: str
    user_messages: tuple[str, ...]


def explicit_items(data_dir: Path) -> list[PrefItem]:
    """Explicit preferences, each as one user message (the benchmark states them this way)."""
    items: list[PrefItem] = []
    for path in sorted((data_dir / "explicit_preference").glob("*.json")):
        for row in json.loads(path.read_text()):
            text = row["preference"].strip().strip('"')
            items.append(PrefItem(path.stem, text, (text,)))
    return items


def persona_items(data_dir: Path) -> list[PrefItem]:
    """Persona-driven conversations: the preference is revealed in passing among other talk."""
    items: list[PrefItem] = []
    for path in sorted((data_dir / "implicit_preference" / "persona-driven").glob("*.json")):
        for row in json.loads(path.read_text()):
            conv = row["conversation"]
            users = tuple(conv[k]["user"] for k in sorted(conv, key=int))
            items.append(PrefItem(path.stem, row["preference"].strip().strip('"'), users))
    return items


@dataclass(frozen=True)
class ItemResult:
    item: PrefItem
    expected: Polarity
    polarities: tuple[Polarity, ...]
    topics: tuple[str, ...]

    @property
    def any_preference(self) -> bool:
        return bool(self.polarities)

    @property
    def any_match(self) -> bool:
        """Some extracted preference has the expected polarity."""
        return self.expected in self.polarities

    @property
    def first_match(self) -> bool:
        """The first extracted preference has the expected polarity (stricter)."""
        return bool(self.polarities) and self.polarities[0] == self.expected

    @property
    def topic_match(self) -> bool:
        """Some preference with the expected polarity shares a content word with the item's
        preference sentence: for conversations, where other turns yield other preferences."""
        words = _content_words(self.item.preference)
        return any(p == self.expected and _content_words(t) & words
                   for p, t in zip(self.polarities, self.topics, strict=True))


def _content_words(text: str) -> set[str]:
    stop = {"the", "and", "for", "with", "that", "any", "from", "like", "more", "than", "over",
            "into", "about", "such", "very", "much", "some", "only", "all", "which", "their"}
    return {w.rstrip("s") for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in stop}


def run_items(extractor: Extractor, items: Sequence[PrefItem]) -> Iterator[ItemResult]:
    """Extract each item on its own (one user, one conversation) and compare polarities."""
    for n, item in enumerate(items):
        turns = [Turn(f"{n}-{i}", "user", m) for i, m in enumerate(item.user_messages)]
        prefs = [m for m in extractor.extract(turns, user_id=f"u{n}").memories
                 if m.kind == "preference" and m.polarity is not None]
        yield ItemResult(
            item, heuristic_polarity(item.preference),
            tuple(p.polarity for p in prefs if p.polarity is not None),
            tuple(p.topic or "" for p in prefs),
        )


def share(results: Sequence[ItemResult], attr: str) -> float:
    return sum(bool(getattr(r, attr)) for r in results) / len(results) if results else 0.0
