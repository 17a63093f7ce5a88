"""LoCoMo with a language model: answer from the retrieved memories, then judge the answer.

The answer prompt gives the memories of both speakers, each with the date of the session its
source turn belongs to (LoCoMo's temporal questions are asked relative to those dates), and
asks for a short answer, as MemOS's and Mem0's scripts do. The judge sees the question, the
gold answer and the generated one and says whether they agree, generously on wording and
format (the LLM-judge score those scripts report). Both prompts are this project's wording of
the same criteria, not copies, so judge scores compare GraphMem systems with each other more
safely than with published numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from graphmem.eval.llm import BenchmarkChat, parse_yes_no
from graphmem.eval.protocol import Retrieved

ANSWER_MAX_TOKENS = 64


def dated_memories(memories: Sequence[Retrieved], dates: Mapping[str, datetime]) -> str:
    """Memories as a numbered list, each prefixed with its first dated source turn's date."""
    if not memories:
        return "(none)"
    lines = []
    for i, memory in enumerate(memories, 1):
        when = next((dates[t] for t in memory.source_turn_ids if t in dates), None)
        stamp = f"[{when:%d %B %Y}] " if when is not None else ""
        lines.append(f"{i}. {stamp}{memory.text.strip()}")
    return "\n".join(lines)


class LocomoLLM:
    """Answer generation and the correct/wrong judge over one chat endpoint."""

    def __init__(
        self, client: BenchmarkChat, judge: BenchmarkChat | None = None
    ) -> None:
        self._client = client
        self._judge = judge or client

    def answer(
        self, question: str, memories: Sequence[Retrieved], dates: Mapping[str, datetime]
    ) -> str:
        prompt = (
            "You answer questions about a long conversation between two people, using only "
            "memories retrieved from it. Each memory may carry the date of the conversation "
            "session it comes from; resolve relative times ('yesterday', 'last week') against "
            "that date.\n\n"
            f"Memories:\n{dated_memories(memories, dates)}\n\n"
            f"Question: {question}\n"
            "Answer in at most a short phrase (5-6 words). If the memories do not say, give "
            "your best guess from them."
        )
        reply = self._client.complete([{"role": "user", "content": prompt}], json_mode=False,
                                      max_tokens=ANSWER_MAX_TOKENS)
        return reply.text.strip()

    def judge(self, question: str, gold: str, answer: str) -> bool:
        """Whether ``answer`` agrees with ``gold``; an unreadable verdict counts as wrong, so a
        broken judge cannot make a system look better than it is."""
        prompt = (
            "You grade an answer to a question about a conversation against the gold answer.\n"
            f"Question: {question}\n"
            f"Gold answer: {gold}\n"
            f"Generated answer: {answer}\n\n"
            "Be generous on wording and detail: the answer is right if it refers to the same "
            "thing, person, place or time as the gold answer (a date in another format, or a "
            "period that contains the gold date, is right). It is wrong if it names something "
            "else, misses the point, or says it does not know.\n"
            "Explain briefly, then finish with a line 'Answer: Yes' (right) or 'Answer: No' "
            "(wrong)."
        )
        reply = self._judge.complete([{"role": "user", "content": prompt}], json_mode=False)
        return parse_yes_no(reply.text) is True
