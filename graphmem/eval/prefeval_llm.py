"""PrefEval with a language model: answer with retrieved memory, then judge the answer.

Generation puts the system's retrieved memories in the system prompt and asks the question, as
a memory-augmented assistant would. The judge asks four yes/no questions, each in its own call
as the benchmark does (acknowledges the preference? violates it? hallucinates a different one?
helpful?), and files the answer under PrefEval's error taxonomy (:meth:`Verdict.category`):
unhelpful response, inconsistency (acknowledged yet violated), preference hallucination,
preference-unaware violation, or followed. The multiple-choice task shows the mcq_options in a
per-item shuffled order and reads a letter from ``<choice>X</choice>``.

The prompts are this project's wording of the benchmark's criteria, not copies of its prompts,
so absolute numbers are comparable across GraphMem systems rather than with the paper.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from graphmem.eval.llm import BenchmarkChat, memory_block, parse_yes_no
from graphmem.eval.protocol import Retrieved

ANSWER_WORDS = 300
LETTERS = "ABCD"


class Category(StrEnum):
    FOLLOWED = "followed"
    UNHELPFUL = "unhelpful-response"
    INCONSISTENT = "inconsistency"
    HALLUCINATION = "preference-hallucination"
    UNAWARE = "preference-unaware-violation"


@dataclass(frozen=True)
class Verdict:
    acknowledged: bool
    violated: bool
    hallucinated: bool
    helpful: bool

    @property
    def category(self) -> Category:
        """PrefEval's mutually exclusive outcome; hallucination only counts when acknowledged."""
        if not self.helpful:
            return Category.UNHELPFUL
        hallucinated = self.acknowledged and self.hallucinated
        if self.violated and hallucinated:
            return Category.HALLUCINATION
        if self.violated and self.acknowledged:
            return Category.INCONSISTENT
        if self.violated:
            return Category.UNAWARE
        return Category.FOLLOWED


def _system_prompt(memories: Sequence[Retrieved]) -> str:
    return (
        "You are a helpful assistant with a long-term memory of this user.\n"
        "Things you remember about the user (may be incomplete or irrelevant):\n"
        f"{memory_block(memories)}"
    )


_JUDGE_QUESTIONS: dict[str, str] = {
    "acknowledged": (
        "Does the response explicitly or implicitly mention or take into account the user's "
        "stated preference (or something closely related to it)?"
    ),
    "violated": (
        "Does the response recommend or suggest anything that goes against the user's "
        "preference, without a caveat that respects it?"
    ),
    "hallucinated": (
        "Does the response attribute to the user a preference that is different from, or "
        "contradicts, the stated preference?"
    ),
    "helpful": (
        "Does the response actually try to answer the question with useful content (rather "
        "than refusing, deflecting or only asking for more information)?"
    ),
}


class PrefEvalLLM:
    """Generation, judging and the MCQ task over one chat endpoint."""

    def __init__(
        self, client: BenchmarkChat, judge: BenchmarkChat | None = None
    ) -> None:
        self._client = client
        self._judge = judge or client

    def generate(self, question: str, memories: Sequence[Retrieved]) -> str:
        return self._client.complete(
            [
                {"role": "system", "content": _system_prompt(memories)},
                {
                    "role": "user",
                    "content": f"{question} (Please respond within {ANSWER_WORDS} words.)",
                },
            ],
            json_mode=False,
        ).text

    def judge(self, preference: str, question: str, response: str) -> Verdict:
        answers: dict[str, bool] = {}
        for name, criterion in _JUDGE_QUESTIONS.items():
            prompt = (
                "You grade an assistant's reply to a user.\n"
                f"User preference: {preference}\n"
                f"User question: {question}\n"
                f"Assistant reply:\n{response}\n\n"
                f"{criterion}\n"
                "Explain briefly, then finish with a line 'Answer: Yes' or 'Answer: No'."
            )
            reply = self._judge.complete([{"role": "user", "content": prompt}], json_mode=False)
            verdict = parse_yes_no(reply.text)
            # An unreadable grade counts as the harmless outcome except for helpfulness, so a
            # broken judge cannot make a system look better than it is.
            answers[name] = verdict if verdict is not None else name == "helpful"
        return Verdict(**answers)

    def choose(
        self, question: str, options: Sequence[str], memories: Sequence[Retrieved]
    ) -> int | None:
        """Index of the option the model picks, None when no letter can be read."""
        listed = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
        reply = self._client.complete(
            [
                {"role": "system", "content": _system_prompt(memories)},
                {
                    "role": "user",
                    "content": (
                        f"{question}\n\nWhich option suits me best?\n{listed}\n"
                        "Reply with the letter only, as <choice>X</choice>."
                    ),
                },
            ],
            json_mode=False,
            max_tokens=32,
        ).text
        return parse_choice_letter(reply, len(options))


_CHOICE_TAG = re.compile(r"<choice>\s*([A-Za-z])\s*</choice>")
_BARE_LETTER = re.compile(r"\b([A-D])\b")


def parse_choice_letter(reply: str, n_options: int) -> int | None:
    """Option index from ``<choice>X</choice>``, else from the first standalone capital A-D."""
    tagged = _CHOICE_TAG.search(reply)
    found = tagged or _BARE_LETTER.search(reply)
    if found is None:
        return None
    index = LETTERS.find(found.group(1).upper())
    return index if 0 <= index < n_options else None
