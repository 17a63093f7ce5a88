"""Words, stopwords and token counts: the one tokeniser every part of GraphMem shares
(full-text query terms, the in-process BM25 baselines, the benchmarks' metrics, token budgets
and token estimates of LLM calls)."""

from __future__ import annotations

import re

# Unicode words without the underscore: "José", "Zürich" and "東京" are words; no Lucene
# operator character is one.
_WORD = re.compile(r"[^\W_]+")
_PIECE = re.compile(r"\w+|[^\w\s]")

# Function words: they match nearly every memory and only add noise to lexical scores.
STOPWORDS: frozenset[str] = frozenset("""
    a about above after again all also am an and any are as at be been before being below both
    but by can could did do does doing don down during each few for from further get go going
    got had has have having he her here hers him his how i i'm if in into is it its itself just
    know like make me more most much my myself need no nor not now of off on once only or other
    our ours out over own really same she should so some such than that the their theirs them
    then there these they think this those through to too under until up very want was we were
    what when where which while who whom why will with would you your yours s t ll ve re d m
""".split())


def words(text: str) -> list[str]:
    """Lowercased words, in order."""
    return _WORD.findall(text.lower())


def content_tokens(text: str) -> list[str]:
    """Words without stopwords or single characters (the lexical vocabulary)."""
    return [t for t in words(text) if t not in STOPWORDS and len(t) > 1]


def light_stem(word: str) -> str:
    """Strip one inflectional suffix (-ing, -ed, -es, -s) when three letters remain."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def bm25_tokens(text: str) -> list[str]:
    """BM25 vocabulary: content tokens, lightly stemmed so "cars" meets "car"."""
    return [light_stem(t) for t in content_tokens(text)]


def estimate_tokens(text: str) -> int:
    """Approximate subword count: words and punctuation, long words counted as several pieces
    (within ~10% of WordPiece/BPE counts on English chat text). Token budgets use it, and LLM
    calls whose server reports no usage; never zero."""
    return max(1, sum(1 + len(p) // 8 for p in _PIECE.findall(text)))


def truncate_tokens(text: str, budget: int) -> str:
    """The text cut to about `budget` estimated tokens (counted as estimate_tokens counts),
    marked with an ellipsis."""
    out, used = [], 0
    for m in _PIECE.finditer(text):
        cost = 1 + len(m.group()) // 8
        if used + cost > budget - 1:
            break
        out.append(m.group())
        used += cost
    return " ".join(out) + " …"
