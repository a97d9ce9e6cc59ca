"""The candidate's public checker, `template_repo/check.py`.

It runs on the grading runtime in copies of the sample submissions. It must flag exactly the
`answers.yaml` problems the grader flags, name missing, `__main__` and unloadable pickles, run the
public tests, and never reveal whether a quiz answer is right.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import pytest

from hidden_tests import load_keys
from mle_assess import TEMPLATE_DIR
from mle_assess.grade.quiz import grade_quiz
from mle_assess.runtime import Runtime

CHECK_PY = TEMPLATE_DIR / "check.py"
LIMIT = 64 * 1024
MODULES = ("module1", "module2")
PICKLES = [f"preprocessors/level{n}/preprocessor.pkl" for n in (1, 2)]


@functools.cache
def load_check_module() -> ModuleType:
    """Import check.py by path (it is our own file, not candidate code)."""
    spec = importlib.util.spec_from_file_location("public_check", CHECK_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def copy_sample(samples: dict[str, Path], name: str, dest: Path) -> Path:
    """A private copy of a built sample, safe to change."""
    return Path(shutil.copytree(samples[name], dest / name, symlinks=True))


def run_check(python: Path, folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python check.py ARGS` in `folder` on the grading runtime, as a candidate would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    proc = subprocess.run(
        [str(python), "check.py", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def answers_yaml(values: dict[str, str]) -> str:
    """A complete answers.yaml, blank except for `values` (raw YAML text by question id)."""
    lines = []
    for module in MODULES:
        lines.append(f"{module}:")
        lines += [f"  q{q}: {values.get(f'{module}.q{q}', '')}".rstrip() for q in range(1, 6)]
    return "\n".join(lines) + "\n"


def wrong_answers() -> str:
    """Valid answers that are all wrong: other letters, other numbers."""
    values = {}
    for qid, key in load_keys().items():
        if key["type"] == "select_all":
            values[qid] = f"[{next(o for o in key['options'] if o not in key['correct'])}]"
        elif key["type"] == "single":
            values[qid] = next(o for o in key["options"] if o != key["correct"])
        elif key["type"] == "number":
            values[qid] = f"{float(Fraction(str(key['answer']))) + 7:g}"
        else:
            values[qid] = "not the accepted text"
    return answers_yaml(values)


# --- what check.py contains ---------------------------------------------------------------


def test_format_table_equals_the_keys_types_and_options():
    table = load_check_module().QUESTIONS
    expected = {
        qid: (key["type"], "".join(str(o) for o in key.get("options", ())))
        for qid, key in load_keys().items()
    }
    assert table == expected


def test_check_py_holds_no_explanation_and_no_answer():
    source = CHECK_PY.read_text(encoding="utf-8")
    flat = " ".join(source.split())
    assert "explanation" not in source and "tolerance" not in source
    for qid, key in load_keys().items():
        explanation = " ".join(str(key.get("explanation", "")).split())
        for sentence in re.split(r"(?<=[.;:])\s+", explanation):
            assert len(sentence) < 12 or sentence not in flat, (qid, sentence)
        values = [str(key["answer"])] if "answer" in key else []
        values += [str(a) for a in key.get("accepted", ())]
        for value in values:
            pattern = rf"(?<![\w.]){re.escape(value)}(?!\.?\w)"
            assert not re.search(pattern, source), (qid, value)


# --- the quiz format: the same verdict as the grader's --------------------------------------

PARITY_CASES = {
    "template blanks": (TEMPLATE_DIR / "answers.yaml").read_bytes(),
    "wrong but valid": wrong_answers().encode(),
    "upper case and spaces": answers_yaml({"module1.q1": "[ A , c ]", "module1.q2": " E"}).encode(),
    "numbers in other forms": answers_yaml({"module1.q3": "1e-3", "module2.q2": "3/4"}).encode(),
    "scalar for select all": answers_yaml({"module1.q1": "b"}).encode(),
    "letter out of range": answers_yaml({"module2.q4": "z", "module2.q1": "[a, g]"}).encode(),
    "list for single": answers_yaml({"module1.q2": "[a]"}).encode(),
    "nested list": answers_yaml({"module2.q3": "[a, [b]]"}).encode(),
    "mapping for single": answers_yaml({"module1.q5": "{a: b}"}).encode(),
    "words for a number": answers_yaml({"module1.q3": "about twelve"}).encode(),
    "nan and division by zero": answers_yaml({"module2.q2": "nan", "module2.q5": "1/0"}).encode(),
    "list for a number": answers_yaml({"module2.q5": "[1]"}).encode(),
    "empty string choice": answers_yaml({"module1.q4": "[a, '']"}).encode(),
    "bad yaml": b"module1:\n  q1: [b\nmodule2:\n",
    "tab indentation": b"module1:\n\tq1: [b]\n",
    "not a mapping": b"- a\n- b\n",
    "empty file": b"",
    "unknown top-level key": answers_yaml({}).encode() + b"module3:\n  q1: a\n",
    "unknown question key": answers_yaml({}).replace("  q5:", "  q6:").encode(),
    "module missing": b"module1:\n  q1: [a]\n",
    "module not a mapping": b"module1: [a, b]\nmodule2:\n  q1: [a]\n",
    "not utf-8": answers_yaml({"module1.q2": "a"}).encode() + b"# \xff\xfe\n",
    "binary": b"module1:\x00\n",
    "too large": answers_yaml({"module1.q2": "a"}).encode() + b"#" * LIMIT,
    "missing file": None,
}


def grader_verdict(raw: bytes | None, folder: Path) -> tuple[int, set[str], dict[str, int]]:
    """The grader's own reading: (problem count, question ids flagged, answered per module)."""
    folder.mkdir()
    if raw is not None:
        (folder / "answers.yaml").write_bytes(raw)
    outcome = grade_quiz(folder, max_bytes=LIMIT)
    flagged = {r.qid for r in outcome.results if r.problem}
    return len(outcome.problems), flagged, {m: outcome.answered(m) for m in MODULES}


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_quiz_format_verdict_matches_the_grader(case: str, tmp_path: Path):
    raw = PARITY_CASES[case]
    report = load_check_module().validate_answers(raw)
    flagged = {p.split(":")[0] for p in report.problems if re.match(r"module\d\.q\d+: ", p)}
    answered = {m: len(report.answered[m]) for m in MODULES}
    assert (len(report.problems), flagged, answered) == grader_verdict(raw, tmp_path / "g")


@pytest.mark.parametrize(
    ("values", "qid"),
    [
        ({"module1.q1": "b"}, "module1.q1"),
        ({"module2.q4": "z"}, "module2.q4"),
        ({"module1.q2": "[a, b]"}, "module1.q2"),
        ({"module1.q3": "about twelve"}, "module1.q3"),
        ({"module2.q3": "[a, [b]]"}, "module2.q3"),
    ],
)
def test_a_malformed_answer_is_named_by_its_question(
    values: dict[str, str], qid: str, samples: dict[str, Path], runtime: Runtime, tmp_path: Path
):
    folder = copy_sample(samples, "reference", tmp_path)
    (folder / "answers.yaml").write_text(answers_yaml(values), encoding="utf-8")
    proc = run_check(runtime.python, folder, "--only", "quiz")
    assert proc.returncode == 1
    assert re.search(rf"FIX +{re.escape(qid)}: ", proc.stdout), proc.stdout
    assert "format valid" not in proc.stdout


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"module1:\n  q1: [b\nmodule2:\n", "answers.yaml is not valid YAML (near line"),
        (b"module1:\n  q1: [b]\n" + b"\xff\n", "answers.yaml is not UTF-8 text"),
        (answers_yaml({}).encode() + b"extra: 1\n", "unknown top-level key(s) 'extra'"),
        (b"#" * (LIMIT + 1), "answers.yaml is larger than 64 KB"),
        (None, "answers.yaml is missing"),
    ],
)
def test_an_unreadable_answers_file_says_what_to_fix(
    raw: bytes | None, message: str, samples: dict[str, Path], runtime: Runtime, tmp_path: Path
):
    folder = copy_sample(samples, "reference", tmp_path)
    (folder / "answers.yaml").unlink()
    if raw is not None:
        (folder / "answers.yaml").write_bytes(raw)
    proc = run_check(runtime.python, folder, "--only", "quiz")
    assert proc.returncode == 1
    assert message in proc.stdout, proc.stdout


# --- pickles -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 5])
def test_a_pickle_naming_main_is_reported(
    protocol: int, samples: dict[str, Path], runtime: Runtime, tmp_path: Path
):
    folder = copy_sample(samples, "reference", tmp_path)
    code = (
        "class Scaler:\n    pass\n"
        "import pickle, sys\n"
        f"sys.stdout.buffer.write(pickle.dumps(Scaler(), protocol={protocol}))\n"
    )
    blob = subprocess.run(
        [str(runtime.python), "-c", code], capture_output=True, check=True, timeout=60
    ).stdout
    (folder / PICKLES[1]).write_bytes(blob)
    proc = run_check(runtime.python, folder, "--only", "pickles")
    assert proc.returncode == 1
    assert f"FIX   {PICKLES[1]} refers to a class in __main__" in proc.stdout, proc.stdout
    assert "custom_transformers.py" in proc.stdout
    assert f"ok    {PICKLES[0]} loads in a fresh process" in proc.stdout


def test_a_pickle_that_raises_on_load_is_reported(
    samples: dict[str, Path], runtime: Runtime, tmp_path: Path
):
    folder = copy_sample(samples, "reference", tmp_path)
    with (folder / "custom_transformers.py").open("a", encoding="utf-8") as handle:
        handle.write("\n\ndef refuse():\n    raise RuntimeError('refusing to load')\n")
    # Protocol 0 by hand: call custom_transformers.refuse() while loading.
    (folder / PICKLES[0]).write_bytes(b"ccustom_transformers\nrefuse\n(tR.")
    proc = run_check(runtime.python, folder, "--only", "pickles")
    assert proc.returncode == 1
    assert (
        f"{PICKLES[0]} does not load in a fresh Python process "
        "(RuntimeError: refusing to load)" in proc.stdout
    ), proc.stdout


# --- whole runs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_run(
    samples: dict[str, Path], runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> subprocess.CompletedProcess:
    """One full check of the reference submission."""
    return run_check(
        runtime.python, copy_sample(samples, "reference", tmp_path_factory.mktemp("r"))
    )


@pytest.mark.slow
def test_the_reference_passes_every_check(reference_run: subprocess.CompletedProcess):
    assert reference_run.returncode == 0, reference_run.stdout
    assert "All checks passed." in reference_run.stdout
    assert "module1: 5 of 5 answered" in reference_run.stdout
    assert "module2: 5 of 5 answered" in reference_run.stdout


@pytest.mark.slow
def test_the_template_fails_naming_the_pickles_and_the_unanswered_quiz(
    samples: dict[str, Path], runtime: Runtime, tmp_path: Path
):
    proc = run_check(runtime.python, copy_sample(samples, "template", tmp_path))
    assert proc.returncode == 1
    for pickle_path in PICKLES:
        assert f"FIX   {pickle_path} is missing: run `python pipeline.py`" in proc.stdout
    assert "module1: 0 of 5 answered" in proc.stdout
    assert "module2: 0 of 5 answered" in proc.stdout
    assert "ok    format valid" in proc.stdout  # blank answers are not a format problem
    assert "FAILED tests/test_module3.py::" in proc.stdout


@pytest.mark.slow
def test_the_output_reveals_no_correctness(
    reference_run: subprocess.CompletedProcess,
    samples: dict[str, Path],
    runtime: Runtime,
    tmp_path: Path,
):
    folder = copy_sample(samples, "reference", tmp_path)
    (folder / "answers.yaml").write_text(wrong_answers(), encoding="utf-8")
    wrong = grade_quiz(folder, max_bytes=LIMIT)
    right = grade_quiz(samples["reference"], max_bytes=LIMIT)
    assert all(r.points == 0 and r.answered for r in wrong.results)
    assert all(r.points == 1 for r in right.results)
    proc = run_check(runtime.python, folder)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        reference_run.returncode,
        reference_run.stdout,
        reference_run.stderr,
    )
