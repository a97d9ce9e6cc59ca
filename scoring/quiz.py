"""Quiz scoring (modules 1 and 2): parse `answers.yaml` and score each answer against its key.

`answers.yaml` is read with YAML's base loader, so every scalar arrives as a string and is
converted per question type here. Messages describe what is wrong by position and rule only;
they never quote the candidate's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

import yaml

# A plain decimal with an optional small exponent: `Fraction("1e2000000000")` would hang.
_PLAIN_NUMBER = re.compile(r"[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,2})?")


@dataclass(frozen=True)
class QuestionKey:
    """One question's key. `qid` reads `module1.q3`."""

    qid: str
    type: str  # select_all | single | number | text
    options: tuple[str, ...] = ()
    correct: tuple[str, ...] = ()
    answer: Fraction | None = None
    tolerance: Fraction = Fraction(0)
    accepted: tuple[str, ...] = ()
    explanation: str = ""


@dataclass(frozen=True)
class ParsedAnswers:
    """Raw answers by question id, and the problems found in the file as a whole."""

    answers: dict[str, object] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    readable: bool = True


@dataclass(frozen=True)
class QuestionResult:
    """How one answer fared. `problem` is set when its format was wrong."""

    qid: str
    points: Fraction
    answered: bool
    problem: str | None = None


def key_from_mapping(qid: str, raw: dict) -> QuestionKey:
    """Build a key from one entry of `hidden_tests/keys/moduleN.yaml`."""
    kind = raw["type"]
    correct = raw.get("correct", ())
    return QuestionKey(
        qid=qid,
        type=kind,
        options=tuple(str(o).lower() for o in raw.get("options", ())),
        correct=tuple(str(c).lower() for c in ([correct] if isinstance(correct, str) else correct)),
        answer=Fraction(str(raw["answer"])) if "answer" in raw else None,
        tolerance=Fraction(str(raw.get("tolerance", 0))),
        accepted=tuple(str(a).strip().lower() for a in raw.get("accepted", ())),
        explanation=str(raw.get("explanation", "")).strip(),
    )


def parse_answers(raw: bytes | None, qids: list[str], *, max_bytes: int) -> ParsedAnswers:
    """Parse the bytes of `answers.yaml` (None when absent) into answers per question id."""
    problem = _file_problem(raw, max_bytes)
    if problem:
        return ParsedAnswers(problems=(problem,), readable=False)
    text = raw.decode("utf-8")
    try:
        if _uses_aliases(text):
            return ParsedAnswers(
                problems=("answers.yaml uses YAML aliases (*name), which are not accepted.",),
                readable=False,
            )
        doc = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - base loader
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        return ParsedAnswers(
            problems=(f"answers.yaml is not valid YAML (near line {line}).",), readable=False
        )
    except (yaml.YAMLError, RecursionError):
        return ParsedAnswers(problems=("answers.yaml is not valid YAML.",), readable=False)
    if not isinstance(doc, dict):
        return ParsedAnswers(
            problems=("answers.yaml must be a mapping with the keys module1 and module2.",),
            readable=False,
        )
    return _collect(doc, qids)


def _uses_aliases(text: str) -> bool:
    """True when the document repeats a node through an alias. A few lines of nested aliases
    stand for billions of values once expanded, so they are refused before loading."""
    return any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.BaseLoader))


def _file_problem(raw: bytes | None, max_bytes: int) -> str | None:
    if raw is None:
        return "answers.yaml is missing: restore it from the template and fill it in."
    if len(raw) > max_bytes:
        return f"answers.yaml is larger than {max_bytes // 1024} KB, so it was not read."
    if b"\x00" in raw:
        return "answers.yaml is binary, not text."
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "answers.yaml is not UTF-8 text."
    return None


def _collect(doc: dict, qids: list[str]) -> ParsedAnswers:
    modules = sorted({q.split(".")[0] for q in qids})
    problems: list[str] = []
    unknown = [k for k in doc if k not in modules]
    if unknown:
        problems.append(
            f"answers.yaml has {len(unknown)} unknown top-level key(s); "
            f"only {', '.join(modules)} are read."
        )
    answers: dict[str, object] = {}
    for module in modules:
        section = doc.get(module)
        if section in (None, ""):
            problems.append(f"{module} is missing from answers.yaml.")
            continue
        if not isinstance(section, dict):
            problems.append(f"{module} must be a mapping of question keys (q1, q2, ...).")
            continue
        names = {q.split(".")[1] for q in qids if q.startswith(module + ".")}
        extra = [k for k in section if k not in names]
        if extra:
            problems.append(
                f"{module} has {len(extra)} unknown key(s); "
                f"only {', '.join(sorted(names))} are read."
            )
        for name in names & set(section):
            answers[f"{module}.{name}"] = section[name]
    return ParsedAnswers(answers=answers, problems=tuple(problems))


def grade_question(key: QuestionKey, raw: object) -> QuestionResult:
    """Score one raw answer (a string, a list of strings, or None) against its key."""
    if raw is None or raw == "" or raw == []:
        return QuestionResult(key.qid, Fraction(0), answered=False)
    try:
        points = _GRADERS[key.type](key, raw)
    except _FormatError as exc:
        return QuestionResult(key.qid, Fraction(0), answered=False, problem=f"{key.qid}: {exc}")
    return QuestionResult(key.qid, points, answered=True)


class _FormatError(ValueError):
    pass


def _letter(key: QuestionKey, value: object) -> str:
    if not isinstance(value, str):
        raise _FormatError("each choice must be a single option letter")
    letter = value.strip().lower()
    if letter not in key.options:
        raise _FormatError(
            f"a choice is not one of the option letters {key.options[0]}-{key.options[-1]}"
        )
    return letter


def _select_all(key: QuestionKey, raw: object) -> Fraction:
    if not isinstance(raw, list):
        raise _FormatError("expected a list of option letters, for example [a, c]")
    chosen = {_letter(key, v) for v in raw}
    right, wrong = set(key.correct), set(key.options) - set(key.correct)
    earned = Fraction(len(chosen & right), len(right)) - Fraction(len(chosen - right), len(wrong))
    return max(Fraction(0), earned)


def _single(key: QuestionKey, raw: object) -> Fraction:
    if isinstance(raw, list):
        raise _FormatError("expected one option letter, not a list")
    return Fraction(int(_letter(key, raw) == key.correct[0]))


def _number(key: QuestionKey, raw: object) -> Fraction:
    if not isinstance(raw, str) or not _PLAIN_NUMBER.fullmatch(raw.strip()):
        raise _FormatError("expected a plain number, for example 12 or 1.5")
    try:
        value = Fraction(raw.strip())
    except (ValueError, ZeroDivisionError):
        raise _FormatError("expected a plain number, for example 12 or 1.5") from None
    assert key.answer is not None
    return Fraction(int(abs(value - key.answer) <= key.tolerance))


def _text(key: QuestionKey, raw: object) -> Fraction:
    if not isinstance(raw, str):
        raise _FormatError("expected a short text answer")
    return Fraction(int(raw.strip().lower() in key.accepted))


_GRADERS = {"select_all": _select_all, "single": _single, "number": _number, "text": _text}
