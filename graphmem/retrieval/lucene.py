"""Query text → a safe Lucene term list. Input is never spliced into Cypher: the term list is
a query parameter, and every Lucene operator character is stripped here."""

from __future__ import annotations

from graphmem.text import STOPWORDS
from graphmem.text import words as _words

_LUCENE_KEYWORDS = {"and", "or", "not", "to"}


def terms(text: str, *, keep_stopwords: bool = False, limit: int = 32) -> list[str]:
    words = _words(text)
    out: list[str] = []
    for w in words:
        if w in _LUCENE_KEYWORDS or (not keep_stopwords and w in STOPWORDS) or w in out:
            continue
        out.append(w)
    return out[:limit]


def term_query(text: str) -> str:
    """Space-separated terms (OR'ed by the caller's `field:(...)` group); '' when none."""
    return " ".join(terms(text))
