"""Drives the benchmarks: replay conversations into each system, query, and score.

PrefEval is replayed incrementally by default: for one item the preference turns are ingested,
then distractors up to the smallest setting, the question is asked, then more distractors up to
the next setting, and so on. The conversation a system has seen at each question is exactly
the official one for that setting (preference, N distractor turns), and an item costs one
replay of 300 turns instead of 380 across the four settings. Pass ``incremental=False`` to
reset and replay for every setting (for systems whose ingestion is not append-only).

PersonaMem is replayed the same way per shared context: questions are taken in order of their
end index, and before each one only ``context[:end_index]`` has been ingested.

LoCoMo adds each conversation once as each speaker's memory (``locomo.speaker_memory``), asks
every question of both memories, merges the two hit lists by score and scores the distinct
source turns of the merged list against the question's evidence turns. Every system goes
through the same protocol; the raw-turn baselines index user turns, so the two memories
together hold each turn exactly once (their ``-all-roles`` variants make each memory the whole
conversation).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tqdm import tqdm

from graphmem.eval.baselines import BM25Turns, CachedEncoder, DenseTurns, NoMemory
from graphmem.eval.locomo import LocomoConversation, LocomoQuestion, speaker_memory
from graphmem.eval.locomo_llm import LocomoLLM
from graphmem.eval.metrics import (
    bleu1,
    first_hit_rank,
    group_by,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from graphmem.eval.personamem import Chooser, PersonaMemQuestion, visible_turns
from graphmem.eval.prefeval import PrefEvalItem, distractors
from graphmem.eval.prefeval_llm import PrefEvalLLM
from graphmem.eval.protocol import EvalTurn, MemorySystem, Retrieved

if TYPE_CHECKING:
    from graphmem.retrieval.config import SearchConfig
    from graphmem.settings import Settings

__all__ = [
    "ChoiceOutcome",
    "EvalTurn",
    "GraphMemSystem",
    "LocomoOutcome",
    "MemorySystem",
    "PrefEvalOutcome",
    "Retrieved",
    "close_systems",
    "distinct_turns",
    "make_systems",
    "merge_by_score",
    "run_locomo",
    "run_personamem",
    "run_prefeval",
]

SYSTEM_NAMES = ("graphmem", "graphmem-all", "graphmem-verbatim", "bm25", "dense",
                "bm25-all-roles", "dense-all-roles", "none")


@dataclass(frozen=True)
class PrefEvalOutcome:
    """One system's answer to one PrefEval item at one setting."""

    system: str
    form: str
    topic: str
    index: int
    setting: int
    hits: list[bool]
    retrieved_ids: list[list[str]]
    ingest_s: float
    retrieve_s: float
    response: str | None = None
    category: str | None = None
    mcq_correct: bool | None = None

    @property
    def first_hit_rank(self) -> int | None:
        return first_hit_rank(self.hits)


@dataclass(frozen=True)
class ChoiceOutcome:
    """One system's pick for one PersonaMem question."""

    system: str
    question_id: str
    question_type: str
    topic: str
    context_id: str
    end_index: int
    ingested: int
    predicted: int | None
    correct: int
    retrieved: int
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_correct(self) -> bool:
        return self.predicted == self.correct


@dataclass(frozen=True)
class LocomoOutcome:
    """One system's retrieval (and, with an LLM, answer) for one LoCoMo question.

    ``ranked_turns`` are the distinct source turns of the merged hits, best first, cut at the
    deepest k; ``recall`` maps each k to the share of evidence turns among the first k.
    """

    system: str
    sample_id: str
    question_index: int
    category: int
    category_name: str
    question: str
    evidence: list[str]
    ranked_turns: list[str]
    recall: dict[int, float]
    mrr: float
    ingest_s: float
    retrieve_s: float
    answer: str | None = None
    gold: str | None = None
    f1: float | None = None
    bleu1: float | None = None
    judge: bool | None = None


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def _score_llm(
    llm: PrefEvalLLM, item: PrefEvalItem, memories: Sequence[Retrieved]
) -> tuple[str, str, bool | None]:
    response = llm.generate(item.question, memories)
    category = llm.judge(item.preference, item.question, response).category.value
    mcq_correct: bool | None = None
    if item.mcq_options:
        options, correct = item.mcq()
        mcq_correct = llm.choose(item.question, options, memories) == correct
    return response, category, mcq_correct


Retrieve = Callable[[str, str, int], list[Retrieved]]


def _views(system: MemorySystem) -> list[tuple[str, Retrieve]]:
    """A system may answer under several names from one ingestion (GraphMem: one per retrieval
    recipe), so its retrievers alone and fused are compared on exactly the same memory."""
    views: Callable[[], list[tuple[str, Retrieve]]] | None = getattr(system, "views", None)
    return views() if views is not None else [(system.name, system.retrieve)]


def run_prefeval(
    items: Sequence[PrefEvalItem],
    inter_messages: Sequence[EvalTurn],
    systems: Sequence[MemorySystem],
    settings: Iterable[int] = (0, 10, 70, 300),
    k: int = 5,
    llm: PrefEvalLLM | None = None,
    incremental: bool = True,
    cleanup: bool = True,
    progress: bool = True,
    run_tag: str = "run",
) -> list[PrefEvalOutcome]:
    """Score every system on every item at every setting (``k`` memories per question)."""
    ordered = sorted(set(settings))
    outcomes: list[PrefEvalOutcome] = []
    for system in systems:
        bar = tqdm(items, desc=f"prefeval/{system.name}", disable=not progress, unit="item")
        for item in bar:
            user = _safe(f"prefeval-{run_tag}-{item.key}")
            done = 0
            ingest_s = 0.0
            for setting in ordered:
                started = time.perf_counter()
                if incremental:
                    if setting == ordered[0]:
                        system.reset(user)
                        system.ingest(user, item.turns)
                    new = distractors(inter_messages, setting)[2 * done :]
                else:
                    system.reset(user)
                    system.ingest(user, item.turns)
                    new = distractors(inter_messages, setting)
                if new:
                    system.ingest(user, new)
                done = setting
                ingest_s = (ingest_s if incremental else 0.0) + time.perf_counter() - started
                for view, retrieve in _views(system):
                    started = time.perf_counter()
                    memories = retrieve(user, item.question, k)[:k]
                    retrieve_s = time.perf_counter() - started
                    response = category = None
                    mcq_correct = None
                    if llm is not None and view == system.name:
                        response, category, mcq_correct = _score_llm(llm, item, memories)
                    outcomes.append(
                        PrefEvalOutcome(
                            system=view,
                            form=item.form.value,
                            topic=item.topic,
                            index=item.index,
                            setting=setting,
                            hits=[item.is_hit(m) for m in memories],
                            retrieved_ids=[list(m.source_turn_ids) for m in memories],
                            ingest_s=ingest_s,
                            retrieve_s=retrieve_s,
                            response=response,
                            category=category,
                            mcq_correct=mcq_correct,
                        )
                    )
            if cleanup:
                system.reset(user)
    return outcomes


def run_personamem(
    questions: Sequence[PersonaMemQuestion],
    contexts: dict[str, list[EvalTurn]],
    systems: Sequence[MemorySystem],
    chooser: Chooser,
    k: int = 5,
    cleanup: bool = True,
    progress: bool = True,
) -> list[ChoiceOutcome]:
    """Answer every question with every system; nothing after a question's end index leaks in."""
    by_context = group_by(questions, lambda q: q.shared_context_id)
    outcomes: list[ChoiceOutcome] = []
    for system in systems:
        bar = tqdm(total=len(questions), desc=f"personamem/{system.name}", disable=not progress)
        for context_id, group in by_context.items():
            user = "personamem-" + hashlib.sha1(context_id.encode()).hexdigest()[:16]
            system.reset(user)
            ingested = 0
            for question in sorted(group, key=lambda q: q.end_index):
                visible = visible_turns(question, contexts)
                if len(visible) > ingested:
                    system.ingest(user, visible[ingested:])
                    ingested = len(visible)
                memories = system.retrieve(user, question.question, k)[:k]
                picked = chooser.choose(question.question, question.option_texts, memories)
                outcomes.append(
                    ChoiceOutcome(
                        system=system.name,
                        question_id=question.question_id,
                        question_type=question.question_type,
                        topic=question.topic,
                        context_id=context_id,
                        end_index=question.end_index,
                        ingested=ingested,
                        predicted=picked,
                        correct=question.correct_index,
                        retrieved=len(memories),
                        extra=dict(question.extra),
                    )
                )
                bar.update(1)
            if cleanup:
                system.reset(user)
        bar.close()
    return outcomes


def _message(turn: EvalTurn) -> dict[str, str]:
    message = {"role": turn.role, "content": turn.content, "id": turn.id}
    if turn.timestamp is not None:
        message["timestamp"] = turn.timestamp.isoformat()
    if turn.speaker:
        message["name"] = turn.speaker
    return message


def merge_by_score(*lists: Sequence[Retrieved]) -> list[Retrieved]:
    """One list best first; equal scores keep argument order, then each list's own order."""
    tagged = [(-m.score, n, i, m) for n, hits in enumerate(lists) for i, m in enumerate(hits)]
    return [m for *_, m in sorted(tagged, key=lambda t: t[:3])]


def distinct_turns(memories: Sequence[Retrieved], limit: int) -> list[str]:
    """Source turn ids in order of first appearance, at most ``limit``."""
    return list(dict.fromkeys(t for m in memories for t in m.source_turn_ids))[:limit]


def _locomo_users(run_tag: str, conversation: LocomoConversation) -> list[tuple[str, str]]:
    """(speaker, user id) pairs; the a/b letter keeps ids apart if names sanitise alike."""
    return [
        (speaker, _safe(f"locomo-{run_tag}-{conversation.sample_id}-{letter}-{speaker}")[:128])
        for letter, speaker in zip("ab", conversation.speakers, strict=True)
    ]


def _locomo_outcome(
    view: str,
    question: LocomoQuestion,
    merged: Sequence[Retrieved],
    ks: Sequence[int],
    timings: tuple[float, float],
) -> LocomoOutcome:
    ranked = distinct_turns(merged, max(ks))
    return LocomoOutcome(
        system=view,
        sample_id=question.sample_id,
        question_index=question.index,
        category=question.category,
        category_name=question.category_name,
        question=question.question,
        evidence=sorted(question.evidence),
        ranked_turns=ranked,
        recall={k: recall_at_k(ranked, question.evidence, k) for k in ks},
        mrr=reciprocal_rank(ranked, question.evidence),
        ingest_s=timings[0],
        retrieve_s=timings[1],
    )


def _answer_locomo(
    llm: LocomoLLM,
    outcome: LocomoOutcome,
    question: LocomoQuestion,
    merged: Sequence[Retrieved],
    conversation: LocomoConversation,
) -> LocomoOutcome:
    answer = llm.answer(question.question, merged, conversation.turn_dates())
    return dataclasses.replace(
        outcome,
        answer=answer,
        gold=question.answer,
        f1=token_f1(answer, question.answer),
        bleu1=bleu1(answer, question.answer),
        judge=llm.judge(question.question, question.answer, answer),
    )


def run_locomo(
    conversations: Sequence[LocomoConversation],
    systems: Sequence[MemorySystem],
    ks: Sequence[int] = (1, 3, 5, 10),
    llm: LocomoLLM | None = None,
    cleanup: bool = True,
    progress: bool = True,
    run_tag: str = "run",
    reuse: bool = False,
) -> list[LocomoOutcome]:
    """Ingest each conversation as both speakers' memories into every system and score every
    question (``max(ks)`` hits per memory; the LLM, for each system's main view, answers from
    the merged top ``max(ks)``).

    With ``reuse``, a speaker memory a system already holds under this ``run_tag`` (kept by an
    earlier run with ``cleanup=False``) is searched as it is instead of being re-ingested, so
    retrieval changes can be measured again without paying for extraction again."""
    k = max(ks)
    outcomes: list[LocomoOutcome] = []
    for system in systems:
        for conversation in conversations:
            users = _locomo_users(run_tag, conversation)
            started = time.perf_counter()
            for speaker, user in tqdm(users, desc=f"locomo/{system.name} ingest "
                                      f"{conversation.sample_id}", disable=not progress,
                                      unit="speaker"):
                if reuse and _holds(system, user):
                    continue
                system.reset(user)
                system.ingest(user, speaker_memory(conversation, speaker))
            ingest_s = time.perf_counter() - started
            bar = tqdm(conversation.questions, disable=not progress, unit="q",
                       desc=f"locomo/{system.name} ask {conversation.sample_id}")
            for question in bar:
                for view, retrieve in _views(system):
                    started = time.perf_counter()
                    merged = merge_by_score(
                        *(retrieve(user, question.question, k)[:k] for _, user in users)
                    )
                    timings = (ingest_s, time.perf_counter() - started)
                    outcome = _locomo_outcome(view, question, merged, ks, timings)
                    if llm is not None and view == system.name:
                        outcome = _answer_locomo(llm, outcome, question, merged[:k],
                                                 conversation)
                    outcomes.append(outcome)
            if cleanup:
                for _, user in users:
                    system.reset(user)
    return outcomes


def _holds(system: MemorySystem, user_id: str) -> bool:
    """Whether ``system`` keeps memory across processes and already has some for the user
    (in-process baselines keep nothing, so they are always ingested)."""
    holds: Callable[[str], bool] | None = getattr(system, "holds", None)
    return holds is not None and holds(user_id)


class _Hit(Protocol):
    score: float
    cube: Any


class _GraphMemAPI(Protocol):
    def add(
        self, messages: list[dict[str, str]], *, user_id: str, session_id: str, **options: Any
    ) -> Any: ...

    def search(self, query: str, *, user_id: str, limit: int, **options: Any) -> Sequence[_Hit]: ...

    def purge(self, *, user_id: str, actor: str) -> Any: ...

    def list(self, *, user_id: str, limit: int) -> Sequence[Any]: ...


class GraphMemSystem:
    """GraphMem behind the benchmark protocol.

    Turn ids go in as message ids; GraphMem keeps them on the Episode nodes (episode ids are
    scoped per user, so the ids PrefEval shares across items cannot collide). Search hits point
    at episodes, mapped back to turn ids with ``GraphMem.episode_message_ids`` in one call per
    query; an episode without a recorded message id is reported under its own id. Every call
    acts as the benchmark user itself (only a user may purge its own memory).
    ``add_options`` / ``search_options`` pass through to ``add`` / ``search`` for ablations
    (e.g. ``{"infer": False}``, ``{"recipe": "vector"}``). ``graphmem.api`` is imported on
    first use so the harness runs without Neo4j.

    Distractor turns (ids starting with ``shared_prefix``) are the same for every item, so they
    are ingested once into a shared scope per distinct prefix of the distractor sequence, owned
    by a curator principal; each benchmark user is granted read on exactly the scope holding the
    distractors it has been shown so far. Every query thus searches the same turns as the
    official setting (the item's own turns plus the first N distractors), through GraphMem's
    ordinary multi-scope ACL, without re-extracting 300 turns per item.
    """

    name = "graphmem"

    def __init__(
        self,
        mem: _GraphMemAPI | None = None,
        settings: Settings | None = None,
        batch_size: int = 500,
        add_options: Mapping[str, Any] | None = None,
        search_options: Mapping[str, Any] | None = None,
        name: str = "graphmem",
        shared_prefix: str | None = "inter-",
        view_recipes: Sequence[str] = (),
        view_configs: Mapping[str, SearchConfig] | None = None,
    ) -> None:
        self._mem = mem
        self._view_recipes = tuple(view_recipes)
        self._view_configs = dict(view_configs or {})
        self._shared_prefix = shared_prefix
        self._shared_seen: dict[str, list[EvalTurn]] = {}
        self._granted: dict[str, str] = {}
        self._scopes: dict[str, str] = {}
        self._settings = settings
        self._batch_size = batch_size
        self._add_options = dict(add_options or {})
        self._search_options = dict(search_options or {})
        self.name = name

    @property
    def mem(self) -> _GraphMemAPI:
        if self._mem is None:
            api = importlib.import_module("graphmem.api")
            self._mem = api.GraphMem(self._settings)
        return self._mem

    def close(self) -> None:
        close: Callable[[], Any] | None = getattr(self._mem, "close", None)
        if close is not None:
            close()

    def reset(self, user_id: str) -> None:
        self.mem.purge(user_id=user_id, actor=f"user:{user_id}")
        self._shared_seen.pop(user_id, None)
        self._granted.pop(user_id, None)

    def holds(self, user_id: str) -> bool:
        """Whether the graph already holds memories of ``user_id`` (for reusing an ingestion)."""
        return bool(self.mem.list(user_id=user_id, limit=1))

    def _is_shared(self, turn: EvalTurn) -> bool:
        return bool(self._shared_prefix) and turn.id.startswith(str(self._shared_prefix))

    def ingest(self, user_id: str, turns: Sequence[EvalTurn]) -> None:
        own = [t for t in turns if not self._is_shared(t)]
        self._add(own, user_id=user_id, session_id=f"{user_id}-session")
        shared = [t for t in turns if self._is_shared(t)]
        if shared:
            seen = self._shared_seen.setdefault(user_id, [])
            seen.extend(shared)
            self._expose(user_id, self._shared_scope(seen))

    def _add(self, turns: Sequence[EvalTurn], **where: Any) -> None:
        """Add in batches; turns that name their own session (LoCoMo) go in one call per run of
        consecutive turns of that session, under a session id of the user's, with their time."""
        default_session = where.pop("session_id")
        kept = [t for t in turns if t.content.strip()]
        for session, group in itertools.groupby(kept, key=lambda t: t.session):
            session_id = default_session if session is None else f"{default_session}-{session}"
            messages = [_message(t) for t in group]
            for start in range(0, len(messages), self._batch_size):
                self.mem.add(messages[start : start + self._batch_size], session_id=session_id,
                             **where, **self._add_options)

    @property
    def _curator(self) -> str:
        return f"{self.name.replace('_', '-')}-curator"

    def _shared_scope(self, turns: Sequence[EvalTurn]) -> str:
        digest = hashlib.sha256("|".join(t.id for t in turns).encode()).hexdigest()[:10]
        key = f"{self._curator}-{len(turns)}-{digest}"
        scope = self._scopes.get(key)
        if scope is None:
            mem: Any = self.mem
            scope = str(mem.create_shared_scope(key, actor=f"user:{self._curator}"))
            self._add(turns, user_id=self._curator, session_id=key, scope=scope)
            self._scopes[key] = scope
        return scope

    def _expose(self, user_id: str, scope: str) -> None:
        mem: Any = self.mem
        curator, reader = f"user:{self._curator}", f"user:{user_id}"
        previous = self._granted.get(user_id)
        if previous == scope:
            return
        if previous is not None:
            mem.revoke(previous, reader, actor=curator)
        mem.grant(scope, reader, actor=curator, read=True)
        self._granted[user_id] = scope

    def views(self) -> list[tuple[str, Retrieve]]:
        extra: list[tuple[str, dict[str, Any]]] = [
            *((recipe, {"recipe": recipe}) for recipe in self._view_recipes),
            *((label, {"config": config}) for label, config in self._view_configs.items()),
        ]
        out: list[tuple[str, Retrieve]] = [(self.name, self.retrieve)]
        for label, option in extra:
            options = {**self._search_options, **option}

            def view(user_id: str, query: str, k: int, options: dict[str, Any] = options
                     ) -> list[Retrieved]:
                return self._retrieve(user_id, query, k, options)

            out.append((f"{self.name}[{label}]", view))
        return out

    def retrieve(self, user_id: str, query: str, k: int) -> list[Retrieved]:
        return self._retrieve(user_id, query, k, self._search_options)

    def _retrieve(self, user_id: str, query: str, k: int, options: Mapping[str, Any]
                  ) -> list[Retrieved]:
        mem = self.mem
        hits = list(mem.search(query, user_id=user_id, limit=k, **options))
        episodes = [[str(e) for e in h.cube.meta.provenance.episode_ids] for h in hits]
        to_messages: Callable[..., Any] | None = getattr(mem, "episode_message_ids", None)
        wanted = sorted({e for eps in episodes for e in eps})
        mapping: dict[str, str] = {}
        if to_messages is not None and wanted:
            found = to_messages(wanted, actor=f"user:{user_id}")
            mapping = {str(key): str(value) for key, value in dict(found).items()}
        return [
            Retrieved(
                str(hit.cube.payload.content),
                [mapping.get(e, e) for e in eps],
                float(hit.score),
            )
            for hit, eps in zip(hits, episodes, strict=True)
        ]


def close_systems(systems: Iterable[MemorySystem]) -> None:
    """Release what systems hold open (GraphMem's Neo4j driver); baselines hold nothing."""
    for system in systems:
        close: Callable[[], Any] | None = getattr(system, "close", None)
        if close is not None:
            close()


def make_systems(
    names: Iterable[str],
    encoder: Callable[[], CachedEncoder],
    settings: Settings | None = None,
    view_configs: Mapping[str, SearchConfig] | None = None,
) -> list[MemorySystem]:
    """Systems by CLI name (:data:`SYSTEM_NAMES`); ``encoder`` is called only if one needs it.
    ``view_configs`` are extra SearchConfigs every GraphMem system also answers with, over the
    same ingestion (one view each)."""
    systems: list[MemorySystem] = []
    for name in names:
        if name == "none":
            systems.append(NoMemory())
        elif name == "bm25":
            systems.append(BM25Turns())
        elif name == "dense":
            systems.append(DenseTurns(encoder()))
        elif name in ("bm25-all-roles", "dense-all-roles"):
            # Raw-turn baselines that index assistant turns too: in LoCoMo each speaker's
            # memory is then the whole conversation (one index, corpus-wide IDF for BM25).
            all_roles: MemorySystem = (BM25Turns(roles=None) if name.startswith("bm25")
                                       else DenseTurns(encoder(), roles=None))
            all_roles.name = name
            systems.append(all_roles)
        elif name == "graphmem":
            systems.append(GraphMemSystem(settings=settings, view_configs=view_configs))
        elif name == "graphmem-all":
            # Fused pipeline plus each retriever alone, all over one ingestion.
            systems.append(GraphMemSystem(settings=settings,
                                          view_recipes=("vector", "bm25", "graph", "preferences",
                                                        "baseline_bm25", "baseline_dense"),
                                          view_configs=view_configs))
        elif name == "graphmem-verbatim":
            # Same engine with extraction off: every user turn is kept as a cube verbatim.
            systems.append(
                GraphMemSystem(settings=settings, add_options={"infer": False}, name=name,
                               view_configs=view_configs)
            )
        else:
            raise ValueError(f"unknown system {name!r}; choose from {', '.join(SYSTEM_NAMES)}")
    return systems
