"""Pure comparisons of a candidate's module 3 results with the oracle's.

Every function returns ``None`` for a pass, or a short reason for a failure. A reason may name
an expected column or feature, since those names are public, but it never quotes a data value
or anything the candidate produced (such as an unexpected column name).
"""

# canary: MLEA-CANARY-3c9e1f0b7d2a

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

# Loaded numbers should equal the CSV text; the slack only absorbs a different float parser.
LOAD_RTOL = 1e-9
OUTPUT_RTOL = 1e-6
OUTPUT_ATOL = 1e-9
OUTPUT_CHECKS = ("feature_names", "row_count", "values", "no_missing")


def compare_loaded(got: pd.DataFrame, want: pd.DataFrame) -> str | None:
    """Judge a loaded frame: same columns in any order, rows sorted by id, equal values.

    Numbers are compared as numbers whatever their dtype, NaN equals NaN, the index is ignored.
    """
    if not isinstance(got, pd.DataFrame):
        return "the result is not a DataFrame"
    if got.columns.duplicated().any():
        return "some column names are repeated"
    missing = [column for column in want.columns if column not in got.columns]
    if missing:
        return "missing columns: " + ", ".join(missing)
    if len(got.columns) != len(want.columns):
        return "there are unexpected extra columns"
    if len(got) != len(want):
        return "row count differs"
    got = got.reset_index(drop=True)
    want = want.reset_index(drop=True)
    if not _same_column(got["id"], want["id"]):
        ids = pd.to_numeric(got["id"], errors="coerce")
        if ids.notna().all() and not ids.is_monotonic_increasing:
            return "rows are not sorted by id"
        return "values differ in column id"
    for column in want.columns:
        if not _same_column(got[column], want[column]):
            return f"values differ in column {column}"
    return None


def _same_column(got: pd.Series, want: pd.Series) -> bool:
    """Compare one column: same gaps, then numbers as numbers or text as text."""
    got_gaps = got.isna().to_numpy()
    want_gaps = want.isna().to_numpy()
    if (got_gaps != want_gaps).any():
        return False
    got, want = got[~got_gaps], want[~want_gaps]
    if pd.api.types.is_numeric_dtype(want) and not pd.api.types.is_bool_dtype(want):
        numbers = pd.to_numeric(got, errors="coerce")
        if numbers.isna().any():
            return False
        return bool(
            np.allclose(numbers.to_numpy(float), want.to_numpy(float), rtol=LOAD_RTOL, atol=0)
        )
    return bool((got.astype(str).to_numpy() == want.astype(str).to_numpy()).all())


def compare_output(
    names: Sequence[str], values: np.ndarray, want: pd.DataFrame
) -> dict[str, str | None]:
    """Judge a preprocessor's output against the oracle's frame, one verdict per check.

    ``names`` come from ``get_feature_names_out()``; ``values`` is the output of
    ``fit_transform`` as a 2-D float array. Columns are matched by name, in any order.
    """
    names = [str(name) for name in names]
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return _unusable_output(names, want, "the output is not numeric")
    if array.ndim != 2:
        return _unusable_output(names, want, "the output is not a 2-D table")
    return {
        "feature_names": _check_names(names, want),
        "row_count": None if array.shape[0] == len(want) else "row count differs",
        "values": _check_values(names, array, want),
        "no_missing": (
            "cannot be judged: row count differs"
            if array.shape[0] != len(want)
            else "the output has missing values"
            if np.isnan(array).any()
            else None
        ),
    }


def _unusable_output(names: list[str], want: pd.DataFrame, reason: str) -> dict[str, str | None]:
    """Verdicts for an output that is not a numeric table: only the names can still pass."""
    verdicts: dict[str, str | None] = dict.fromkeys(OUTPUT_CHECKS, reason)
    verdicts["feature_names"] = _check_names(names, want)
    return verdicts


def _check_names(names: list[str], want: pd.DataFrame) -> str | None:
    """The set of feature names must equal the expected set, each name once."""
    missing = [name for name in want.columns if name not in names]
    if missing:
        return "missing features: " + ", ".join(missing)
    if len(names) != len(set(names)):
        return "some feature names are repeated"
    if len(names) != len(want.columns):
        return "there are unexpected extra features"
    return None


def _check_values(names: list[str], array: np.ndarray, want: pd.DataFrame) -> str | None:
    """Compare each expected feature's column, found by name, within the tolerances."""
    if len(names) != array.shape[1]:
        return "the number of feature names differs from the number of output columns"
    if array.shape[0] != len(want):
        return "values cannot be compared: row count differs"
    counts = Counter(names)
    if any(counts[name] != 1 for name in want.columns):
        return "values cannot be compared: expected features are missing or repeated"
    wrong = [
        name
        for name in want.columns
        if not np.allclose(
            array[:, names.index(name)],
            want[name].to_numpy(float),
            rtol=OUTPUT_RTOL,
            atol=OUTPUT_ATOL,
        )
    ]
    if wrong:
        return "values differ in features: " + ", ".join(wrong)
    return None


def changed_features(want: pd.DataFrame, raw: pd.DataFrame) -> list[str]:
    """Expected features whose values differ from the raw column of the same name (a filled
    gap, an encoded category) and are not all equal (a category absent from the data gives a
    column of zeros): getting one of them right shows that preprocessing was done."""
    changed = []
    for name in want.columns:
        if want[name].nunique(dropna=False) < 2:
            continue
        if name not in raw.columns:
            changed.append(name)
            continue
        column = pd.to_numeric(raw[name], errors="coerce")
        if column.isna().any() or not np.allclose(
            column.to_numpy(float), want[name].to_numpy(float), rtol=OUTPUT_RTOL, atol=OUTPUT_ATOL
        ):
            changed.append(name)
    return changed


def shows_preprocessing(
    names: Sequence[str], values: np.ndarray, want: pd.DataFrame, raw: pd.DataFrame
) -> bool:
    """True when at least one changed feature (see `changed_features`) has the right values.

    A table of the right shape and names is easy to produce without doing any preprocessing
    (zeros will do), so the structure checks count only for an output that shows some."""
    names = [str(name) for name in names]
    array = np.asarray(values, dtype=float)
    if array.ndim != 2 or array.shape[0] != len(want) or array.shape[1] != len(names):
        return False
    counts = Counter(names)
    return any(
        counts[name] == 1
        and np.allclose(
            array[:, names.index(name)],
            want[name].to_numpy(float),
            rtol=OUTPUT_RTOL,
            atol=OUTPUT_ATOL,
        )
        for name in changed_features(want, raw)
    )
