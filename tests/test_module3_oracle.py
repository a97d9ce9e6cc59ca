"""Module 3's grading material: the data generator, the oracle, the comparisons, the solutions.

The solutions run as a candidate's code would: in a copy of the template with the solution's
overlay on top, in a child process of the grading runtime.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from mle_assess.runtime import find as find_runtime

PROJECT = Path(__file__).resolve().parents[1]
MODULE3 = PROJECT / "hidden_tests" / "module3"
TEMPLATE = PROJECT / "template_repo"
SOLUTIONS = PROJECT / "hidden_tests" / "solutions"
RUNTIME_PYTHON = find_runtime().python
LEVELS = (1, 2)
SEEDS = (1, 2, 3, 4, 5)
CASES = [(level, seed) for level in LEVELS for seed in SEEDS]
CATEGORICALS = ("gender", "favouriteTransport", "reason")

# Runs inside the submission copy: unpickle each level, fit_transform a CSV, print plain JSON.
CHILD = """
import json, pickle, sys
import numpy as np, pandas as pd
results = []
for level, csv_path in json.load(sys.stdin):
    with open(f"preprocessors/level{level}/preprocessor.pkl", "rb") as handle:
        preprocessor = pickle.load(handle)
    output = preprocessor.fit_transform(pd.read_csv(csv_path))
    if hasattr(output, "toarray"):
        output = output.toarray()
    names = [str(name) for name in preprocessor.get_feature_names_out()]
    results.append({"names": names, "values": np.asarray(output, dtype=float).tolist()})
json.dump(results, sys.stdout)
"""


def _load_module(name: str) -> ModuleType:
    """Import one of the standalone module 3 files by path."""
    spec = importlib.util.spec_from_file_location(f"module3_{name}", MODULE3 / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate = _load_module("generate")
oracle = _load_module("oracle")
compare = _load_module("compare")


def run_runtime(args: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    """Run the grading runtime's Python in ``cwd``, as candidate code is run."""
    assert RUNTIME_PYTHON.is_file(), f"no grading runtime at {RUNTIME_PYTHON}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [str(RUNTIME_PYTHON), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def make_submission(dest: Path, solution: str | None) -> Path:
    """Copy the template, then the named solution's overlay on top of it."""
    ignore = shutil.ignore_patterns("preprocessors", "__pycache__", ".pytest_cache")
    shutil.copytree(TEMPLATE, dest, ignore=ignore)
    if solution is not None:
        shutil.copytree(SOLUTIONS / solution, dest, ignore=ignore, dirs_exist_ok=True)
    return dest


def solution_outputs(submission: Path, jobs: list[tuple[int, Path]]) -> list[dict[str, list]]:
    """Run ``python pipeline.py`` in a submission, then fit_transform each job's CSV."""
    built = run_runtime(["pipeline.py"], submission)
    assert built.returncode == 0, built.stderr[-3000:]
    payload = json.dumps([[level, str(path)] for level, path in jobs])
    ran = run_runtime(["-c", CHILD], submission, stdin=payload)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return json.loads(ran.stdout)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], Path]:
    """Every hidden-style data set the tests use, generated once."""
    root = tmp_path_factory.mktemp("module3-data")
    sets = {}
    for level, seed in CASES:
        out = root / f"level{level}-seed{seed}"
        generate.generate(level, seed, out)
        sets[level, seed] = out
    return sets


@pytest.fixture(scope="module")
def reference(
    datasets: dict[tuple[int, int], Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[int, int], dict[str, list]]:
    """The reference solution's names and values for every data set."""
    submission = make_submission(tmp_path_factory.mktemp("m3-ref") / "repo", "reference")
    jobs = [(level, datasets[level, seed] / "combined.csv") for level, seed in CASES]
    return dict(zip(CASES, solution_outputs(submission, jobs), strict=True))


# --- the generator and the oracle ---------------------------------------------------------


@pytest.mark.parametrize(("level", "seed"), CASES)
def test_oracle_load_equals_combined_csv(
    datasets: dict[tuple[int, int], Path], level: int, seed: int
) -> None:
    loaded = oracle.load(datasets[level, seed] / "parts")
    combined = pd.read_csv(datasets[level, seed] / "combined.csv")
    pd.testing.assert_frame_equal(loaded, combined, check_dtype=False)
    assert compare.compare_loaded(loaded, combined) is None


@pytest.mark.parametrize(("level", "seed"), CASES)
def test_parts_are_shuffled_not_sorted_blocks(
    datasets: dict[tuple[int, int], Path], level: int, seed: int
) -> None:
    parts = sorted((datasets[level, seed] / "parts").glob("*.csv"))
    assert len(parts) >= 3
    combined = pd.read_csv(datasets[level, seed] / "combined.csv")
    position = {row_id: i for i, row_id in enumerate(combined["id"])}
    for part in parts:
        ids = pd.read_csv(part)["id"]
        assert not ids.is_monotonic_increasing
        spots = sorted(position[row_id] for row_id in ids)
        assert spots[-1] - spots[0] + 1 > len(spots), "a part holds a contiguous id range"


@pytest.mark.parametrize(("level", "seed"), CASES)
def test_generated_columns_and_gaps(
    datasets: dict[tuple[int, int], Path], level: int, seed: int
) -> None:
    frame = pd.read_csv(datasets[level, seed] / "combined.csv")
    assert list(frame.columns) == list(generate.columns_for(level))
    assert ("reason" in frame.columns) == (level == 2)
    assert frame["id"].is_unique and frame["id"].notna().all()
    assert frame["satisfaction"].between(1, 10).all()
    assert frame["age"].dropna().between(16, 90).all()
    for column in generate.nullable_columns(level):
        assert 0.04 <= frame[column].isna().mean() <= 0.25, column
    assert (frame.isna().sum(axis=1) >= 3).any(), "no row misses several fields"


@pytest.mark.parametrize("seed", SEEDS)
def test_level2_reason_gaps_and_absent_options(
    datasets: dict[tuple[int, int], Path], seed: int
) -> None:
    frame = pd.read_csv(datasets[2, seed] / "combined.csv")
    gaps = frame["reason"].isna().to_list()
    assert gaps[0], "no leading gap"
    assert gaps[-1] and gaps[-2], "no trailing run of gaps"
    assert not all(gaps), "reason has no valid value"
    inner = gaps[3:-5]
    assert any(a and b for a, b in pairwise(inner)), "no inner run of consecutive gaps"
    for column in CATEGORICALS:
        present = set(frame[column].dropna())
        assert present <= set(oracle.OPTIONS[column])
        assert present < set(oracle.OPTIONS[column]), f"every {column} option occurs"
    expected = oracle.expected(2, frame)
    for column in ("favouriteTransport", "reason"):
        names = [f"{column}_{option}" for option in oracle.OPTIONS[column]]
        assert (expected[names].sum() == 0).any(), f"no empty one-hot column for {column}"


def test_oracle_fills_reason_backwards_then_forwards() -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "age": [20, np.nan, 40, 50, 60, 70],
            "averageTravelDistance": [1, 2, 3, np.nan, 5, 6],
            "travelFrequency": [1.5, 2.5, np.nan, 4.5, 5.5, 6.5],
            "travelExpenses": [np.nan, 10.0, 20.0, 30.0, 40.0, 50.0],
            "satisfaction": [1, 2, 3, 4, 5, 6],
            "gender": ["male", np.nan, "female", "male", "male", "male"],
            "favouriteTransport": ["bus", "bus", np.nan, "tram", "tram", "tram"],
            "reason": [np.nan, "job", np.nan, np.nan, "hospital", np.nan],
        }
    )
    out = oracle.expected(2, frame)
    assert out["reason_job"].to_list() == [1, 1, 0, 0, 0, 0]
    assert out["reason_hospital"].to_list() == [0, 0, 1, 1, 1, 1]
    assert out["reason_university"].sum() == 0
    assert out["gender_didn't share"].to_list() == [0, 1, 0, 0, 0, 0]
    assert out["favouriteTransport_no preference"].to_list() == [0, 0, 1, 0, 0, 0]
    assert out.loc[1, "age"] == 50.0
    assert out.loc[0, "travelExpenses"] == 30.0
    assert out.loc[2, "travelFrequency"] == pytest.approx(4.1)
    assert list(out.columns) == oracle.feature_names(2)
    assert len(oracle.feature_names(2)) == 20


def test_generation_is_deterministic_per_level_and_seed(tmp_path: Path) -> None:
    for name in ("a", "b"):
        generate.generate(2, 3, tmp_path / name, n_rows=120)
    generate.generate(2, 4, tmp_path / "c", n_rows=120)
    generate.generate(1, 3, tmp_path / "d", n_rows=120)
    files = [p.relative_to(tmp_path / "a") for p in sorted((tmp_path / "a").rglob("*.csv"))]
    assert len(files) == 4
    for file in files:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    combined = "combined.csv"
    assert (tmp_path / "a" / combined).read_bytes() != (tmp_path / "c" / combined).read_bytes()
    assert (tmp_path / "a" / combined).read_bytes() != (tmp_path / "d" / combined).read_bytes()


@pytest.mark.parametrize("level", LEVELS)
def test_public_data_is_seed_zero_and_unlike_hidden_data(
    datasets: dict[tuple[int, int], Path], tmp_path: Path, level: int
) -> None:
    generate.generate(level, 0, tmp_path, n_rows=300, n_parts=3)
    public = TEMPLATE / "data" / f"level{level}"
    assert sorted(p.name for p in public.glob("*")) == ["part-1.csv", "part-2.csv", "part-3.csv"]
    for part in public.glob("*.csv"):
        assert part.read_bytes() == (tmp_path / "parts" / part.name).read_bytes()
    public_ids = set(oracle.load(public)["id"])
    for seed in SEEDS:
        hidden_ids = set(pd.read_csv(datasets[level, seed] / "combined.csv")["id"])
        assert len(public_ids & hidden_ids) < 10


# --- the solutions, run by the grading runtime --------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("level", "seed"), CASES)
def test_reference_agrees_with_oracle(
    datasets: dict[tuple[int, int], Path],
    reference: dict[tuple[int, int], dict[str, list]],
    level: int,
    seed: int,
) -> None:
    want = oracle.expected(level, pd.read_csv(datasets[level, seed] / "combined.csv"))
    got = reference[level, seed]
    verdicts = compare.compare_output(got["names"], np.asarray(got["values"]), want)
    assert verdicts == dict.fromkeys(compare.OUTPUT_CHECKS)
    assert sorted(got["names"]) == sorted(oracle.feature_names(level))


@pytest.mark.slow
def test_reference_loader_and_pickles(
    datasets: dict[tuple[int, int], Path], tmp_path: Path
) -> None:
    submission = make_submission(tmp_path / "repo", "reference")
    code = "import sys, pipeline; pipeline.load_data(sys.argv[1]).to_csv(sys.argv[2], index=False)"
    parts = datasets[2, 1] / "parts"
    ran = run_runtime(["-c", code, str(parts), str(tmp_path / "loaded.csv")], submission)
    assert ran.returncode == 0, ran.stderr[-3000:]
    got = pd.read_csv(tmp_path / "loaded.csv")
    assert compare.compare_loaded(got, oracle.load(parts)) is None
    built = run_runtime(["pipeline.py"], submission)
    assert built.returncode == 0, built.stderr[-3000:]
    for level in LEVELS:
        data = (submission / "preprocessors" / f"level{level}" / "preprocessor.pkl").read_bytes()
        assert b"__main__" not in data
        assert b"custom_transformers" in data or level == 1


@pytest.mark.slow
def test_level1_only_solution_fails_level2_names_and_values(
    datasets: dict[tuple[int, int], Path], tmp_path: Path
) -> None:
    submission = make_submission(tmp_path / "repo", "m3_level1_only")
    jobs = [(1, datasets[1, 2] / "combined.csv"), (2, datasets[2, 2] / "combined.csv")]
    level1, level2 = solution_outputs(submission, jobs)
    want1 = oracle.expected(1, pd.read_csv(jobs[0][1]))
    verdicts1 = compare.compare_output(level1["names"], np.asarray(level1["values"]), want1)
    assert verdicts1 == dict.fromkeys(compare.OUTPUT_CHECKS)
    want2 = oracle.expected(2, pd.read_csv(jobs[1][1]))
    verdicts2 = compare.compare_output(level2["names"], np.asarray(level2["values"]), want2)
    assert verdicts2["feature_names"] is not None
    assert verdicts2["values"] is not None
    assert verdicts2["row_count"] is None and verdicts2["no_missing"] is None


@pytest.mark.slow
def test_starter_pipeline_fails_and_writes_nothing(tmp_path: Path) -> None:
    submission = make_submission(tmp_path / "repo", None)
    ran = run_runtime(["pipeline.py"], submission)
    assert ran.returncode != 0
    assert "NotImplementedError" in ran.stderr
    assert not (submission / "preprocessors").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("solution", "passes"), [("reference", True), (None, False)])
def test_public_module3_tests(tmp_path: Path, solution: str | None, passes: bool) -> None:
    submission = make_submission(tmp_path / "repo", solution)
    if passes:
        assert run_runtime(["pipeline.py"], submission).returncode == 0
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_module3.py"]
    ran = run_runtime(args, submission)
    assert (ran.returncode == 0) == passes, ran.stdout[-3000:]


# --- the comparisons ----------------------------------------------------------------------


@pytest.fixture
def level2_frame(datasets: dict[tuple[int, int], Path]) -> pd.DataFrame:
    """One hidden-style level 2 combined frame."""
    return pd.read_csv(datasets[2, 1] / "combined.csv")


def test_compare_output_accepts_any_column_order(level2_frame: pd.DataFrame) -> None:
    want = oracle.expected(2, level2_frame)
    names = list(reversed(want.columns))
    verdicts = compare.compare_output(names, want[names].to_numpy(), want)
    assert verdicts == dict.fromkeys(compare.OUTPUT_CHECKS)


def test_compare_output_catches_a_wrong_value(level2_frame: pd.DataFrame) -> None:
    want = oracle.expected(2, level2_frame)
    values = want.to_numpy().copy()
    column = list(want.columns).index("travelExpenses")
    values[7, column] += 0.5
    verdicts = compare.compare_output(list(want.columns), values, want)
    assert verdicts["values"] == "values differ in features: travelExpenses"
    assert verdicts["feature_names"] is None and verdicts["row_count"] is None
    assert str(values[7, column]) not in verdicts["values"]


def test_compare_output_catches_a_missing_column(level2_frame: pd.DataFrame) -> None:
    want = oracle.expected(2, level2_frame)
    kept = [name for name in want.columns if name != "reason_hospital"]
    verdicts = compare.compare_output(kept, want[kept].to_numpy(), want)
    assert "reason_hospital" in verdicts["feature_names"]
    assert verdicts["values"] is not None
    assert verdicts["row_count"] is None and verdicts["no_missing"] is None


def test_compare_output_catches_rounding(level2_frame: pd.DataFrame) -> None:
    want = oracle.expected(2, level2_frame)
    verdicts = compare.compare_output(list(want.columns), want.to_numpy().round(2), want)
    assert verdicts["values"] is not None


def test_compare_output_catches_gaps_and_row_count(level2_frame: pd.DataFrame) -> None:
    want = oracle.expected(2, level2_frame)
    values = want.to_numpy().copy()
    values[3, 1] = np.nan
    verdicts = compare.compare_output(list(want.columns), values, want)
    assert verdicts["no_missing"] is not None and verdicts["values"] is not None
    short = compare.compare_output(list(want.columns), want.to_numpy()[:-1], want)
    assert short["row_count"] is not None and short["values"] is not None
    extra = compare.compare_output([*want.columns, "spare"], want.to_numpy(), want)
    assert extra["feature_names"] is not None and "spare" not in extra["feature_names"]


def test_compare_loaded_ignores_order_of_columns_index_and_dtypes(
    level2_frame: pd.DataFrame,
) -> None:
    got = level2_frame[list(reversed(level2_frame.columns))].copy()
    got.index = got.index + 100
    got["satisfaction"] = got["satisfaction"].astype(float)
    got["id"] = got["id"].astype(str)
    assert compare.compare_loaded(got, level2_frame) is None


def test_compare_loaded_catches_each_kind_of_difference(level2_frame: pd.DataFrame) -> None:
    want = level2_frame
    unsorted = want.sample(frac=1.0, random_state=0)
    assert compare.compare_loaded(unsorted, want) == "rows are not sorted by id"
    assert compare.compare_loaded(want.drop(columns="age"), want) == "missing columns: age"
    assert compare.compare_loaded(want.iloc[:-1], want) == "row count differs"
    wrong = want.copy()
    wrong.loc[4, "travelFrequency"] = wrong["travelFrequency"].max() + 1.25
    reason = compare.compare_loaded(wrong, want)
    assert reason == "values differ in column travelFrequency"
    gap = want.copy()
    gap.loc[gap["reason"].notna().idxmax(), "reason"] = np.nan
    assert compare.compare_loaded(gap, want) == "values differ in column reason"
    extra = want.assign(extra=1)
    assert compare.compare_loaded(extra, want) == "there are unexpected extra columns"


def test_the_oracle_imports_no_scikit_learn() -> None:
    """Two independent implementations: the oracle must not share scikit-learn with the
    reference it checks."""
    import ast

    tree = ast.parse((MODULE3 / "oracle.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert "sklearn" not in imported and imported <= {"pandas", "numpy", "pathlib", "__future__"}


# --- structure checks count only for an output that shows preprocessing -------------------


@pytest.mark.parametrize(("level", "seed"), CASES)
def test_every_data_set_has_features_the_rules_change(datasets, level, seed):
    frame = oracle.load(datasets[level, seed] / "parts")
    changed = compare.changed_features(oracle.expected(level, frame), frame)
    assert {"age", "averageTravelDistance"} <= set(changed)
    assert "id" not in changed  # passed through unchanged: copying it shows nothing


@pytest.mark.parametrize(("level", "seed"), CASES)
def test_zeros_of_the_right_shape_show_no_preprocessing(datasets, reference, level, seed):
    frame = oracle.load(datasets[level, seed] / "parts")
    want = oracle.expected(level, frame)
    names = list(want.columns)
    zeros = np.zeros((len(want), len(names)))
    raw_copy = np.column_stack(
        [pd.to_numeric(frame[n], errors="coerce") if n in frame else zeros[:, 0] for n in names]
    )
    assert not compare.shows_preprocessing(names, zeros, want, frame)
    assert not compare.shows_preprocessing(names, raw_copy, want, frame)
    got = reference[level, seed]
    assert compare.shows_preprocessing(got["names"], np.array(got["values"]), want, frame)
