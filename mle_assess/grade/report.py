"""Turn graded checks into `results.json`, the reviewer's `report.md`, the candidate-facing
`output`, and a one-line terminal summary.

The candidate-facing text follows the feedback policy: for the quiz only whether the format is
valid and how many questions are answered; for coding levels checks passed out of total with
the names of failing checks; and flags. Never quiz correctness, hidden inputs, expected values,
tracebacks or candidate output.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from mle_assess import PROJECT_ROOT, __version__
from mle_assess.grade.module3 import CheckDetail
from mle_assess.grade.quiz import QuizOutcome
from mle_assess.grade.snapshot import Flag
from mle_assess.logsafe import for_log
from scoring import Config, Score, score

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "results.schema.json"
CODING_UNITS = ("module3.level1", "module3.level2", "module4.level1", "module4.level2")
VARIANT = "default"


@dataclass(frozen=True)
class Results:
    """Everything one grading produced."""

    data: dict
    report: str
    score: Score

    @property
    def scaled_score(self) -> int:
        return self.score.scaled

    def summary(self) -> str:
        units = " ".join(f"{u}={_num(s.score)}/{s.max_score}" for u, s in self.score.units.items())
        flags = len(self.data["extra_data"]["flags"])
        return (
            f"scaled {self.score.scaled} | {units} | flags {flags} | "
            f"{self.data['execution_time']:.1f} s"
        )


def grader_commit() -> str:
    """The grader's git commit: from the environment (CI), else from the source tree."""
    if os.environ.get("MLE_ASSESS_GRADER_COMMIT"):
        return os.environ["MLE_ASSESS_GRADER_COMMIT"]
    try:
        proc = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def build_results(
    *,
    quiz: QuizOutcome,
    coding: list[CheckDetail],
    flags: list[Flag],
    config: Config,
    seed: int,
    execution_time: float,
    isolation: str,
    limits_enforced_by: str,
    template_ref: str | None = None,
) -> Results:
    """Score every check and assemble the Gradescope-shaped results. `template_ref` names the
    template commit protected files were compared with (None: the grader's own template)."""
    checks = quiz.checks() + [d.check for d in coding]
    total = score(checks, config)
    flag_dicts = [{"kind": f.kind, "detail": f.detail} for f in _unique(flags)]
    data = {
        "score": _num(total.raw),
        "execution_time": round(execution_time, 3),
        "output": candidate_output(quiz, coding, flag_dicts),
        "tests": _quiz_tests(quiz) + _coding_tests(coding),
        "extra_data": {
            "scaled_score": total.scaled,
            "modules": {
                m: _pair(total.module(m)) for m in ("module1", "module2", "module3", "module4")
            },
            "levels": {u: _pair(total.units[u]) for u in CODING_UNITS},
            "flags": flag_dicts,
            "isolation": isolation,
            "limits_enforced_by": limits_enforced_by,
            "assessment_version": __version__,
            "grader_commit": grader_commit(),
            "variant": VARIANT,
            "seed": seed,
            "template_ref": template_ref,
            "quiz": {
                "format_valid": quiz.readable and not quiz.problems,
                "answered": {m: quiz.answered(m) for m in ("module1", "module2")},
            },
        },
    }
    return Results(data, reviewer_report(data, quiz, coding), total)


def _unique(flags: list[Flag]) -> list[Flag]:
    seen, unique = set(), []
    for flag in flags:
        if flag not in seen:
            seen.add(flag)
            unique.append(flag)
    return unique


def _num(value) -> float | int:
    number = round(float(value), 6)
    return int(number) if number.is_integer() else number


def _pair(unit) -> dict:
    return {"score": _num(unit.score), "max_score": unit.max_score}


def _quiz_tests(quiz: QuizOutcome) -> list[dict]:
    return [
        {
            "name": r.qid,
            "number": r.qid,
            "score": _num(r.points),
            "max_score": 1,
            "status": "passed" if r.points == 1 else "failed",
            "visibility": "after_due_date",
            "tags": [r.qid.split(".")[0]],
        }
        for r in quiz.results
    ]


def _coding_tests(coding: list[CheckDetail]) -> list[dict]:
    return [
        {
            "name": d.title,
            "number": d.check.name,
            "score": _num(d.check.points),
            "max_score": d.check.max_points,
            "status": "passed" if d.check.passed else "failed",
            "visibility": "visible",
            "tags": d.check.unit.split("."),
        }
        for d in coding
    ]


def candidate_output(quiz: QuizOutcome, coding: list[CheckDetail], flags: list[dict]) -> str:
    """The candidate-facing Markdown, under the feedback policy (before the deadline)."""
    lines = ["## MLE Assess: checks on this push", "", "### Quiz (modules 1 and 2)"]
    lines.append(
        "answers.yaml: format valid."
        if quiz.readable and not quiz.problems
        else "answers.yaml: the format needs fixing:"
    )
    lines += [f"- {p}" for p in quiz.problems]
    lines += [
        f"- {m}: {quiz.answered(m)} of {quiz.total(m)} answered" for m in ("module1", "module2")
    ]
    for unit in CODING_UNITS:
        unit_checks = [d for d in coding if d.check.unit == unit]
        passed = sum(d.check.passed for d in unit_checks)
        module, level = unit.split(".")
        lines += [
            "",
            f"### {module.replace('module', 'Module ')}, "
            f"{level.replace('level', 'level ')}: "
            f"{passed} of {len(unit_checks)} checks passed",
        ]
        lines += [f"- failing: {d.title}" for d in unit_checks if not d.check.passed]
    if flags:
        lines += ["", "### Flags"] + [f"- `{f['kind']}`: {f['detail']}" for f in flags]
    lines += ["", "Quiz correctness and scores are shown after the deadline."]
    return "\n".join(lines) + "\n"


def reviewer_report(data: dict, quiz: QuizOutcome, coding: list[CheckDetail]) -> str:
    """The reviewer's Markdown report: score, breakdown, every question and check, flags."""
    extra = data["extra_data"]
    lines = [
        f"# Grading report: scaled score {extra['scaled_score']} (200-600)",
        "",
        "| unit | score | max |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {m} | {v['score']} | {v['max_score']} |" for m, v in extra["modules"].items()]
    lines += [f"| {u} | {v['score']} | {v['max_score']} |" for u, v in extra["levels"].items()]
    lines += [
        "",
        "## Quiz",
        "",
        "| question | answer | points | key | explanation |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in quiz.results:
        key = quiz.keys[r.qid]
        answer = _cell(quiz.answers.get(r.qid, ""))
        lines.append(
            f"| {r.qid} | {answer} | {_num(r.points)} | {_cell(_key_text(key))} | "
            f"{_cell(key.explanation, 1000)} |"
        )
    lines += [f"- format: {p}" for p in quiz.problems]
    lines += [
        "",
        "## Coding checks",
        "",
        "| check | result | why it failed |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {d.check.name}: {d.title} | {'pass' if d.check.passed else 'FAIL'} | "
        f"{_cell(d.reason or '', 300)} |"
        for d in coding
    ]
    lines += ["", "## Flags", ""] + (
        [f"- {f['kind']}: {f['detail']}" for f in extra["flags"]] or ["none"]
    )
    lines += [
        "",
        "## Provenance",
        "",
        f"- isolation: {extra['isolation']} (limits enforced by {extra['limits_enforced_by']})",
        f"- assessment version {extra['assessment_version']}, grader commit "
        f"{extra['grader_commit']}, variant {extra['variant']}, seed {extra['seed']}",
        f"- protected files compared with the template {_template_name(extra.get('template_ref'))}",
        f"- execution time {data['execution_time']} s",
        "",
        "Candidate output is kept in logs/ beside this report, for reviewers only.",
    ]
    return "\n".join(lines) + "\n"


def _template_name(ref: str | None) -> str:
    """The template's commit as the report names it, or the grader's own copy."""
    return f"commit `{ref}`" if ref else "as the grader has it (no template commit given)"


def _key_text(key) -> str:
    if key.correct:
        return ", ".join(key.correct)
    if key.accepted:
        return " / ".join(key.accepted)
    return f"{_num(key.answer or 0)} ± {_num(key.tolerance)}"


def _cell(value: object, limit: int = 40) -> str:
    """A value as one Markdown table cell: one line, no markup, bounded length.

    Only text, or a flat list of texts, is shown; a mapping or nested list (which YAML aliases
    could make enormous) is named, never rendered."""
    if isinstance(value, list):
        shown = [v[:limit] if isinstance(v, str) else "(a nested value)" for v in value[:limit]]
        text = ", ".join(shown)
    elif isinstance(value, str):
        text = value[: limit * 4]
    else:
        text = "(not a text value)" if value is not None else ""
    text = " ".join(text.split())
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(char, escaped)
    text = for_log(text)  # a report may be shown in a CI log: no workflow command in it
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate(data: dict) -> None:
    """Raise jsonschema.ValidationError unless `data` follows the results schema."""
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def write_outputs(results: Results, out: Path, *, logs: dict[str, str]) -> None:
    """Write the reviewer-only logs and report.md, then results.json (validated first) last
    and atomically: a results.json on disk means every other output is there too."""
    validate(results.data)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    for name, text in logs.items():
        (out / "logs" / f"{name}.log").write_text(text, encoding="utf-8", errors="backslashreplace")
    (out / "report.md").write_text(results.report, encoding="utf-8", errors="backslashreplace")
    partial = out / "results.json.partial"
    partial.write_text(json.dumps(results.data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, out / "results.json")
