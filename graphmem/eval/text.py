"""Deterministic text matching shared by relevance labels, the hit rule and BM25.

Relevance must not depend on an embedding model (that would favour the dense baseline), so the
rules here are lexical and fixed: lowercase alphanumeric tokens, a small English stopword list
and a crude prefix stem. The thresholds were picked on the rule's intent, not tuned on scores.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping

from graphmem.text import STOPWORDS, bm25_tokens, content_tokens, light_stem, words

__all__ = ["STOPWORDS", "bm25_tokens", "content_tokens", "light_stem"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# A prefix stem merges inflections (gamble/gambling, animated/animation) without a stemmer
# dependency; five letters keeps unrelated words apart well enough for short sentences.
STEM_CHARS = 5

# Hit by text: the preference statement must be nearly all there (coverage) in a memory that is
# not much longer than the statement, so a long unrelated turn cannot match by accident.
TEXT_HIT_MIN_COVERAGE = 0.8
TEXT_HIT_MAX_LENGTH_RATIO = 3.0


def tokens(text: str) -> list[str]:
    """Lowercased words, in order (graphmem.text, the one tokeniser)."""
    return words(text)


def normalise(text: str) -> str:
    """Tokens joined by single spaces: punctuation, case and spacing stop mattering."""
    return " ".join(tokens(text))


def stems(text: str) -> set[str]:
    """Set of prefix-stemmed content tokens."""
    return {t[:STEM_CHARS] for t in content_tokens(text)}


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def stem_idf(documents: Iterable[str]) -> dict[str, float]:
    """Inverse document frequency of stems over ``documents`` (smoothed, always positive)."""
    doc_stems = [stems(d) for d in documents]
    df = Counter(s for doc in doc_stems for s in doc)
    n = len(doc_stems)
    return {s: math.log((n + 1) / (c + 0.5)) for s, c in df.items()}


def coverage(statement: str, text: str, idf: Mapping[str, float] | None = None) -> float:
    """Share of the statement's stems that occur in ``text`` (0 when the statement has none).

    With ``idf`` each stem weighs its IDF (unseen stems weigh the largest IDF), so a shared
    "prefer" counts for less than a shared "gadget".
    """
    wanted = stems(statement)
    if not wanted:
        return 0.0
    found = wanted & stems(text)
    if idf is None:
        return len(found) / len(wanted)
    default = max(idf.values(), default=1.0)
    total = sum(idf.get(s, default) for s in wanted)
    return sum(idf.get(s, default) for s in found) / total


def contains_statement(text: str, statement: str) -> bool:
    """Whether ``text`` states ``statement``: normalised substring, or near-complete overlap.

    Rule: (1) the normalised statement occurs in the normalised text on word boundaries, or
    (2) at least 80% of the statement's stems occur in the text and the text has at most three
    times as many stems as the statement. (2) accepts a memory that rephrases the preference
    ("User refuses non-electric rental cars ...") but not a long turn that shares vocabulary.
    """
    norm_statement = normalise(statement)
    if not norm_statement:
        return False
    if f" {norm_statement} " in f" {normalise(text)} ":
        return True
    wanted = stems(statement)
    have = stems(text)
    if not wanted or len(have) > TEXT_HIT_MAX_LENGTH_RATIO * len(wanted):
        return False
    return len(wanted & have) / len(wanted) >= TEXT_HIT_MIN_COVERAGE


def best_sentence_coverage(
    statement: str, text: str, idf: Mapping[str, float] | None = None
) -> float:
    """Highest :func:`coverage` of ``statement`` by any single sentence of ``text``.

    Sentence-level scoring stops a long turn from winning on scattered vocabulary.
    """
    return max((coverage(statement, s, idf) for s in sentences(text)), default=0.0)
