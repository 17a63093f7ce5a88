"""Query text → a safe Lucene term list. Input is never spliced into Cypher: the term list is
a query parameter, and every Lucene operator character is stripped here."""

from __future__ import annotations

import re

# Short English function words: they match nearly every memory and only add noise to BM25.
STOPWORDS = frozenset(
    """a an and are as at be but by can could do does did for from had has have how i i'm if
    in into is it its me my of on or our should so some that the their them then there
    these they this to was we were what when where which who why will with would you your
    yours about any all am been being just like more most much no not now only other than
    too very also get got go going want know think make need really""".split()
)
# Unicode word characters: "José", "Zürich" and "東京" are terms, not "Jos", "Z", "rich"
# (Lucene's analyzer splits CJK runs into its own tokens at query time). None of these is a
# Lucene operator character.
_WORD = re.compile(r"[^\W_]+")
_LUCENE_KEYWORDS = {"and", "or", "not", "to"}


def terms(text: str, *, keep_stopwords: bool = False, limit: int = 32) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    out: list[str] = []
    for w in words:
        if w in _LUCENE_KEYWORDS or (not keep_stopwords and w in STOPWORDS) or w in out:
            continue
        out.append(w)
    return out[:limit]


def term_query(text: str) -> str:
    """Space-separated terms (OR'ed by the caller's `field:(...)` group); '' when none."""
    return " ".join(terms(text))
