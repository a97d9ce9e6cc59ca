"""Public checks: run ``python check.py`` from the repository root before you push.

It checks three things and never says whether a quiz answer is right:

1. ``answers.yaml`` has the format the grader reads, and how many questions you answered;
2. both pickled preprocessors exist, name no class in ``__main__``, and load in a new process;
3. the public tests in ``tests/`` pass.

``--only quiz|pickles|tests`` runs one part (repeat it to run several). The exit status is 0
when every part passes and 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import pickletools
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ANSWERS_MAX_KB = 64  # the grader does not read a larger answers.yaml
LEVELS = (1, 2)
LOAD_SECONDS = 120
TESTS_SECONDS = 900
RUN_PIPELINE = "run `python pipeline.py` from the repository root"
# Each question's type and option letters, exactly as QUIZ.md states them.
QUESTIONS: dict[str, tuple[str, str]] = {
    "module1.q1": ("select_all", "abcdef"),
    "module1.q2": ("single", "abcde"),
    "module1.q3": ("number", ""),
    "module1.q4": ("select_all", "abcdef"),
    "module1.q5": ("single", "abcde"),
    "module2.q1": ("select_all", "abcdef"),
    "module2.q2": ("number", ""),
    "module2.q3": ("select_all", "abcdef"),
    "module2.q4": ("single", "abcde"),
    "module2.q5": ("number", ""),
}
MODULES = ("module1", "module2")


@dataclass
class Section:
    """One part of the check: lines to print, and whether anything needs fixing."""

    title: str
    lines: list[str] = field(default_factory=list)
    failed: bool = False

    def ok(self, text: str) -> None:
        self.lines.append(f"  ok    {text}")

    def fix(self, text: str) -> None:
        self.lines.append(f"  FIX   {text}")
        self.failed = True

    def note(self, text: str) -> None:
        self.lines.append(f"  note  {text}")


@dataclass
class QuizReport:
    """Format problems in answers.yaml, and the questions answered per module."""

    problems: list[str] = field(default_factory=list)
    answered: dict[str, list[str]] = field(default_factory=lambda: {m: [] for m in MODULES})


def validate_answers(raw: bytes | None) -> QuizReport:
    """Apply the grader's reading rules to the bytes of answers.yaml (None when it is absent)."""
    report = QuizReport()
    doc, problem = parse_document(raw)
    if problem:
        report.problems.append(problem)
        return report
    answers = collect(doc, report.problems)
    for qid, (kind, options) in QUESTIONS.items():
        value = answers.get(qid)
        if value is None or value == "" or value == []:
            continue  # unanswered, which is allowed
        problem = shape_problem(kind, tuple(options), value)
        if problem:
            report.problems.append(f"{qid}: {problem}")
        else:
            report.answered[qid.split(".")[0]].append(qid.split(".")[1])
    return report


def parse_document(raw: bytes | None) -> tuple[object, str | None]:
    """The YAML document read with the base loader (every scalar a string), or a problem."""
    if raw is None:
        return None, "answers.yaml is missing: restore it from the template and fill it in."
    if len(raw) > ANSWERS_MAX_KB * 1024:
        return None, f"answers.yaml is larger than {ANSWERS_MAX_KB} KB, so it would not be read."
    if b"\x00" in raw:
        return None, "answers.yaml is binary, not text."
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "answers.yaml is not UTF-8 text: save it with UTF-8 encoding."
    try:
        import yaml
    except ImportError:
        return None, "PyYAML is missing: run `pip install -r requirements.txt` first."
    try:
        doc = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        return None, f"answers.yaml is not valid YAML (near line {line}: {exc.problem})."
    except (yaml.YAMLError, RecursionError):
        return None, "answers.yaml is not valid YAML."
    if not isinstance(doc, dict):
        return None, "answers.yaml must be a mapping with the keys module1 and module2."
    return doc, None


def collect(doc: dict, problems: list[str]) -> dict[str, object]:
    """Answers by question id; unknown or missing sections are added to ``problems``."""
    unknown = [str(k) for k in doc if k not in MODULES]
    if unknown:
        problems.append(
            f"answers.yaml has unknown top-level key(s) {shorten(unknown)}; "
            f"only {', '.join(MODULES)} are read."
        )
    answers: dict[str, object] = {}
    for module in MODULES:
        section = doc.get(module)
        if section in (None, ""):
            problems.append(f"{module} is missing from answers.yaml: restore it from the template.")
            continue
        if not isinstance(section, dict):
            problems.append(f"{module} must be a mapping of question keys (q1, q2, ...).")
            continue
        names = sorted(q.split(".")[1] for q in QUESTIONS if q.startswith(module + "."))
        extra = [str(k) for k in section if k not in names]
        if extra:
            problems.append(
                f"{module} has unknown key(s) {shorten(extra)}; only {', '.join(names)} are read."
            )
        answers.update({f"{module}.{n}": section[n] for n in names if n in section})
    return answers


def shorten(names: list[str]) -> str:
    """A bounded, printable list of key names for a message."""
    return ", ".join(repr(n[:30]) for n in names[:5]) + (", ..." if len(names) > 5 else "")


# A plain decimal with an optional small exponent, as the grader accepts.
PLAIN_NUMBER = re.compile(r"[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,2})?")


def shape_problem(kind: str, options: tuple[str, ...], value: object) -> str | None:
    """What the grader would reject in one answer's shape, or None when the shape is fine."""
    if kind == "number":
        if not isinstance(value, str):
            return "expected a plain number, not a list or a mapping"
        if not PLAIN_NUMBER.fullmatch(value.strip()):  # the grader's own rule
            return "expected a plain number, for example 12 or 1.5 or 2e-3"
        return None
    if kind == "select_all" and not isinstance(value, list):
        return (
            "select all correct expects a list of option letters, for example [a, c]; "
            "a single letter also goes in brackets"
        )
    if kind == "single" and isinstance(value, list):
        return "single choice expects one option letter, not a list"
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, str):
            return "each choice must be a single option letter"
        if item.strip().lower() not in options:  # letters in any case, spaces allowed
            return f"a choice is not one of the option letters {options[0]}-{options[-1]}"
    return None


def check_quiz(root: Path) -> Section:
    """Section 1: the format of answers.yaml and the answered counts; never correctness."""
    section = Section("Quiz: answers.yaml (format only, never whether an answer is right)")
    path = root / "answers.yaml"
    if path.is_symlink():
        section.fix("answers.yaml is a symbolic link; the grader takes only regular files.")
        raw = None
    else:
        raw = path.read_bytes() if path.is_file() else None
    report = validate_answers(raw)
    for problem in report.problems:
        section.fix(problem)
    if not report.problems:
        section.ok("format valid")
    for module in MODULES:
        names = sorted(q.split(".")[1] for q in QUESTIONS if q.startswith(module + "."))
        done = report.answered[module]
        missing = [n for n in names if n not in done]
        tail = f" (not answered: {', '.join(missing)})" if missing else ""
        section.note(f"{module}: {len(done)} of {len(names)} answered{tail}")
    return section


def references_main(blob: bytes) -> bool:
    """True when the pickle names anything in __main__; it is read, never unpickled."""
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(blob):
            if opcode.name in ("GLOBAL", "INST") and str(arg).split(" ")[0] == "__main__":
                return True
            if isinstance(arg, str):
                strings.append(arg)
            if opcode.name == "STACK_GLOBAL" and len(strings) >= 2 and strings[-2] == "__main__":
                return True
    except Exception:  # noqa: BLE001 - a damaged pickle is reported when it fails to load
        return False
    return False


# Runs in a new interpreter, as the grader does: only the repository and custom_transformers.
LOADER = """
import os, pickle, sys
sys.path.insert(0, sys.argv[1])
os.chdir(sys.argv[1])
def verdict(code, text):
    print("\\ncheck.py: " + text, file=sys.stderr)
    sys.exit(code)
try:
    if os.path.isfile("custom_transformers.py"):
        import custom_transformers
except BaseException as exc:
    verdict(3, "custom_transformers.py raises %s when imported: %s" % (type(exc).__name__, exc))
try:
    with open(sys.argv[2], "rb") as handle:
        obj = pickle.load(handle)
except BaseException as exc:
    verdict(2, "%s: %s" % (type(exc).__name__, exc))
if not all(callable(getattr(obj, m, None)) for m in ("fit_transform", "get_feature_names_out")):
    verdict(4, "it has no fit_transform or get_feature_names_out method")
"""


def load_in_fresh_process(root: Path, relative: str) -> str | None:
    """None when the pickle loads in a new interpreter, else what went wrong."""
    argv = [sys.executable, "-I", "-c", LOADER, str(root), relative]
    try:
        proc = subprocess.run(
            argv, cwd=root, capture_output=True, text=True, errors="replace", timeout=LOAD_SECONDS
        )
    except subprocess.TimeoutExpired:
        return f"{relative} took more than {LOAD_SECONDS} s to load."
    if proc.returncode == 0:
        return None
    marks = [ln for ln in proc.stderr.splitlines() if ln.startswith("check.py: ")]
    detail = marks[-1][len("check.py: ") :][:300] if marks else f"exit code {proc.returncode}"
    if proc.returncode == 3:
        return f"{detail} (needed to load {relative})."
    if proc.returncode == 4:
        return f"{relative} loads, but {detail}."
    return f"{relative} does not load in a fresh Python process ({detail})."


def check_pickles(root: Path) -> Section:
    """Section 2: each level's pickle exists, avoids __main__, and loads in a new process."""
    section = Section("Module 3: pickled preprocessors")
    for level in LEVELS:
        relative = f"preprocessors/level{level}/preprocessor.pkl"
        path = root / relative
        if path.is_symlink():
            section.fix(f"{relative} is a symbolic link; the grader takes only regular files.")
        elif not path.is_file():
            section.fix(f"{relative} is missing: {RUN_PIPELINE} to write it, then commit it.")
        elif references_main(path.read_bytes()):
            section.fix(
                f"{relative} refers to a class in __main__, which no other program can "
                "import: move your classes into custom_transformers.py, import them "
                f"from there in pipeline.py, and {RUN_PIPELINE} again."
            )
        else:
            problem = load_in_fresh_process(root, relative)
            if problem:
                section.fix(problem)
            else:
                section.ok(f"{relative} loads in a fresh process")
    return section


def check_tests(root: Path) -> Section:
    """Section 3: the public tests, run by pytest in a separate process."""
    section = Section("Public tests: python -m pytest -q tests")
    if not (root / "tests").is_dir():
        section.fix("tests/ is missing: restore it from the template.")
        return section
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    env = {**os.environ, "COLUMNS": "160"}  # so pytest shortens failure lines less
    try:
        proc = subprocess.run(
            argv,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TESTS_SECONDS,
        )
    except subprocess.TimeoutExpired:
        section.fix(f"the public tests took more than {TESTS_SECONDS} s and were stopped.")
        return section
    output = proc.stdout + proc.stderr
    if "No module named pytest" in output:
        section.fix("pytest is missing: run `pip install -r requirements.txt` first.")
        return section
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    # The closing line reads like "8 passed, 2 failed in 3.10s"; the time is left out.
    summary = re.sub(r"^=+ | in [\d.]+s.*$", "", lines[-1]) if lines else "no output"
    if proc.returncode == 0:
        section.ok(summary)
        return section
    section.fix(f"{summary} (pytest exit code {proc.returncode})")
    for line in [ln for ln in lines if ln.startswith(("FAILED ", "ERROR "))][:20]:
        section.lines.append(f"        {line[:160]}")
    section.note("run `python -m pytest tests` to see each failure in full.")
    return section


CHECKS = {"quiz": check_quiz, "pickles": check_pickles, "tests": check_tests}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen checks, print every section and a summary, and return the exit status."""
    parser = argparse.ArgumentParser(description="Public checks for this repository.")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(CHECKS),
        help="run only this part (repeat to run several)",
    )
    chosen = parser.parse_args(argv).only or list(CHECKS)
    sections = {name: CHECKS[name](ROOT) for name in CHECKS if name in chosen}
    for section in sections.values():
        print(f"\n{section.title}\n" + "\n".join(section.lines))
    print("\nSummary")
    for name, section in sections.items():
        print(f"  {name:8} {'needs fixing' if section.failed else 'ok'}")
    failed = any(s.failed for s in sections.values())
    print("\nSome checks need fixing (see FIX above)." if failed else "\nAll checks passed.")
    print("Quiz answers are scored only after the deadline; this check never judges them.")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ncheck.py was interrupted.")
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a friendly line instead of a traceback
        print(f"\ncheck.py could not finish: {type(exc).__name__}: {exc}")
        sys.exit(1)
