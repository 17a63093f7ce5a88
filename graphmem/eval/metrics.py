"""Ranking metrics and their aggregation over benchmark groups.

Two views of the same thing. The id-based functions are the textbook definitions over a ranked
list of ids and a set of relevant ids. The benchmarks judge each retrieved memory as a hit or
not (provenance or text, see ``prefeval.PrefEvalItem.is_hit``) because one memory may come from
several turns and several memories from one turn; there the preference is the single relevant
unit, so recall@k is 1 when any of the first k memories is a hit, and MRR uses the first hit.
MRR is cut at the deepest k retrieved (MRR@max k): a miss in the list scores 0. LoCoMo has
several evidence turns per question, so it uses the id-based functions over the distinct source
turns of what was retrieved. The answer scores at the end (token F1, BLEU-1) compare a generated
answer with the gold one.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from graphmem.eval.text import tokens

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def recall_at_k(ranked_ids: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant ids found in the first ``k`` (duplicates count once)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    if not relevant:
        return 0.0
    return len(set(ranked_ids[:k]) & set(relevant)) / len(set(relevant))


def reciprocal_rank(ranked_ids: Sequence[str], relevant: Collection[str]) -> float:
    """1 / rank of the first relevant id, 0 when none is ranked."""
    return next((1.0 / r for r, i in enumerate(ranked_ids, 1) if i in relevant), 0.0)


def first_hit_rank(hits: Sequence[bool]) -> int | None:
    """1-based position of the first hit, None when there is none."""
    return next((r for r, h in enumerate(hits, 1) if h), None)


def hit_at_k(rank: int | None, k: int) -> float:
    """Recall@k when there is a single relevant unit: 1 if the first hit is within ``k``."""
    return 1.0 if rank is not None and rank <= k else 0.0


def rr_of_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / rank


@dataclass(frozen=True)
class RankSummary:
    """Mean recall@k for each k and MRR over ``n`` ranked lists."""

    n: int
    recall: dict[int, float]
    mrr: float


def summarise_ranks(ranks: Sequence[int | None], ks: Sequence[int]) -> RankSummary:
    """Average :func:`hit_at_k` and :func:`rr_of_rank` over first-hit ranks."""
    n = len(ranks)
    if n == 0:
        return RankSummary(0, {k: 0.0 for k in ks}, 0.0)
    recall = {k: sum(hit_at_k(r, k) for r in ranks) / n for k in ks}
    return RankSummary(n, recall, sum(rr_of_rank(r) for r in ranks) / n)


def group_by(rows: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    """Rows bucketed by ``key``, buckets in first-seen order."""
    groups: dict[K, list[T]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return dict(groups)


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


# --- answer overlap (LoCoMo's generated-answer scores) ---------------------------------------

_ANSWER_ARTICLES = frozenset({"a", "an", "the"})


def answer_tokens(text: str) -> list[str]:
    """Lowercased alphanumeric tokens without articles, the normalisation SQuAD-style answer
    F1 uses (LoCoMo's scorer also drops "and" and stems; MemOS's and Mem0's do neither)."""
    return [t for t in tokens(text) if t not in _ANSWER_ARTICLES]


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall, tokens counted with multiplicity."""
    pred, ref = Counter(answer_tokens(prediction)), Counter(answer_tokens(gold))
    overlap = sum((pred & ref).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(pred.values())
    recall = overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def bleu1(prediction: str, gold: str) -> float:
    """Sentence BLEU-1: clipped unigram precision times the brevity penalty (no smoothing, so
    an answer sharing no token with the gold one scores 0)."""
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return 0.0
    clipped = sum((Counter(pred) & Counter(ref)).values())
    brevity = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return brevity * clipped / len(pred)
