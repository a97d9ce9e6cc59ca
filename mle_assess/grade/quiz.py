"""Grade modules 1 and 2 from `answers.yaml` against the hidden keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hidden_tests import load_keys
from scoring import CheckResult
from scoring.quiz import (
    QuestionKey,
    QuestionResult,
    grade_question,
    key_from_mapping,
    parse_answers,
)


@dataclass(frozen=True)
class QuizOutcome:
    """Per-question results, the file's problems, and the keys (for the reviewer report)."""

    results: list[QuestionResult]
    problems: list[str]
    keys: dict[str, QuestionKey]
    readable: bool
    answers: dict[str, object]

    def checks(self) -> list[CheckResult]:
        return [CheckResult(r.qid, r.qid.split(".")[0], r.points) for r in self.results]

    def answered(self, module: str) -> int:
        return sum(r.answered for r in self.results if r.qid.startswith(module + "."))

    def total(self, module: str) -> int:
        return sum(1 for r in self.results if r.qid.startswith(module + "."))


def grade_quiz(work: Path, *, max_bytes: int) -> QuizOutcome:
    """Read `answers.yaml` from the work copy (absent if it was refused) and score it."""
    keys = {qid: key_from_mapping(qid, raw) for qid, raw in load_keys().items()}
    path = work / "answers.yaml"
    raw = path.read_bytes()[: max_bytes + 1] if path.is_file() else None
    parsed = parse_answers(raw, list(keys), max_bytes=max_bytes)
    results = [grade_question(key, parsed.answers.get(qid)) for qid, key in keys.items()]
    problems = list(parsed.problems) + [r.problem for r in results if r.problem]
    return QuizOutcome(results, problems, keys, parsed.readable, parsed.answers)
