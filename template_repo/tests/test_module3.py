"""Public checks for module 3, the data pipeline, on the data in ``data/``.

The graded checks run the same steps on other data of the same shape, and compare every
value; passing these is a start, not a score. Run ``python pipeline.py`` first, so the
pickled preprocessors exist.
"""

from __future__ import annotations

import csv
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
# The tests import your pipeline.py and custom_transformers.py from the repository root.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

LEVELS = (1, 2)
LEVEL1_FEATURES = {
    "id",
    "age",
    "averageTravelDistance",
    "travelFrequency",
    "travelExpenses",
    "satisfaction",
}
RUN_PIPELINE = "run `python pipeline.py` from the repository root to write it"


def data_folder(level: int) -> Path:
    """The public data folder of a level."""
    return REPO / "data" / f"level{level}"


def read_parts(level: int) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of every CSV part of a level, read without pandas."""
    header: list[str] = []
    rows: list[dict[str, str]] = []
    for path in sorted(data_folder(level).glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows.extend(reader)
    return header, rows


def combined_frame(level: int) -> pd.DataFrame:
    """The input the preprocessors get: all parts, every column, sorted by id, default index."""
    parts = [pd.read_csv(path) for path in sorted(data_folder(level).glob("*.csv"))]
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values("id").reset_index(drop=True)


def load_preprocessor(level: int) -> object:
    """Unpickle a level's preprocessor, failing with a hint when the file is missing."""
    path = REPO / "preprocessors" / f"level{level}" / "preprocessor.pkl"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(REPO)} does not exist: {RUN_PIPELINE}")
    with path.open("rb") as handle:
        return pickle.load(handle)


def as_float_array(output: object) -> np.ndarray:
    """Turn a DataFrame, ndarray or sparse matrix into a dense float array."""
    if hasattr(output, "toarray"):
        output = output.toarray()
    return np.asarray(output, dtype=float)


@pytest.mark.parametrize("level", LEVELS)
def test_load_data_combines_every_part_sorted_by_id(level: int) -> None:
    from pipeline import load_data

    header, rows = read_parts(level)
    frame = load_data(data_folder(level))
    assert isinstance(frame, pd.DataFrame), "load_data must return a pandas DataFrame"
    assert set(frame.columns) == set(header), "the columns must be those of the CSV files"
    assert len(frame) == len(rows), "every row of every part must be loaded, once"
    ids = pd.to_numeric(frame["id"])
    assert sorted(ids) == sorted(int(row["id"]) for row in rows), "the ids differ from the data"
    assert ids.is_monotonic_increasing, "rows must be sorted by id"


@pytest.mark.parametrize("level", LEVELS)
def test_pickle_exists_and_loads_in_a_fresh_process(level: int) -> None:
    path = REPO / "preprocessors" / f"level{level}" / "preprocessor.pkl"
    assert path.is_file(), f"{path.relative_to(REPO)} does not exist: {RUN_PIPELINE}"
    # A new interpreter has no __main__ classes of yours, just as the grader's has none.
    code = "import pathlib, pickle, sys; pickle.loads(pathlib.Path(sys.argv[1]).read_bytes())"
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"{path.relative_to(REPO)} cannot be loaded by another program; keep custom classes "
        f"in custom_transformers.py, not in pipeline.py.\n{result.stderr[-2000:]}"
    )


@pytest.mark.parametrize("level", LEVELS)
def test_fit_transform_fills_every_gap(level: int) -> None:
    preprocessor = load_preprocessor(level)
    frame = combined_frame(level)
    output = as_float_array(preprocessor.fit_transform(frame))
    names = list(preprocessor.get_feature_names_out())
    assert output.ndim == 2 and output.shape[0] == len(frame), "one output row per input row"
    assert output.shape[1] == len(names), "one feature name per output column"
    assert not np.isnan(output).any(), "the output must have no missing values"


def test_level1_feature_names() -> None:
    preprocessor = load_preprocessor(1)
    preprocessor.fit_transform(combined_frame(1))
    names = [str(name) for name in preprocessor.get_feature_names_out()]
    assert len(names) == len(set(names)), "feature names must not repeat"
    assert set(names) == LEVEL1_FEATURES
