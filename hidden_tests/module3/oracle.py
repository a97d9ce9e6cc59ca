"""Module 3's expected results, written straight from the rules the candidate is given.

Plain pandas only: no scikit-learn, so the oracle shares no code path with the solutions it
judges.

- Loading reads every ``*.csv`` part of a folder, combines them and sorts the rows by ``id``.
- Level 1 drops ``transportCardId``, fills ``age`` with the median and the three travel
  features with the mean, both taken from the frame being transformed.
- Level 2 also one-hot encodes ``gender`` (gaps become "didn't share"), ``favouriteTransport``
  (gaps become "no preference") and ``reason`` (gaps take the next valid value in row order,
  trailing gaps the previous one), with a ``<feature>_<option>`` column for every option.
"""

# canary: MLEA-CANARY-3c9e1f0b7d2a

from __future__ import annotations

from pathlib import Path

import pandas as pd

LEVEL1_FEATURES = (
    "id",
    "age",
    "averageTravelDistance",
    "travelFrequency",
    "travelExpenses",
    "satisfaction",
)
MEAN_FILLED = ("averageTravelDistance", "travelFrequency", "travelExpenses")
OPTIONS = {
    "gender": ("male", "female", "didn't share"),
    "favouriteTransport": ("tram", "trolleybus", "bus", "underground", "bicycle", "no preference"),
    "reason": ("job", "university", "fun activities", "countryside", "hospital"),
}
CONSTANT_FILLS = {"gender": "didn't share", "favouriteTransport": "no preference"}


def load(folder: Path) -> pd.DataFrame:
    """Read every CSV part in ``folder``, combine them, sort by id and reset the index."""
    paths = sorted(Path(folder).glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"no CSV part in {folder}")
    frame = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


def feature_names(level: int) -> list[str]:
    """Return the exact output feature names of a level, level 1's first."""
    _check_level(level)
    names = list(LEVEL1_FEATURES)
    if level == 2:
        names += [f"{feature}_{option}" for feature, opts in OPTIONS.items() for option in opts]
    return names


def expected(level: int, frame: pd.DataFrame) -> pd.DataFrame:
    """Return the preprocessed frame: one float column per feature name, rows in input order."""
    _check_level(level)
    frame = frame.reset_index(drop=True)
    out = {
        "id": frame["id"],
        "age": frame["age"].fillna(frame["age"].median()),
        "satisfaction": frame["satisfaction"],
    }
    for column in MEAN_FILLED:
        out[column] = frame[column].fillna(frame[column].mean())
    if level == 2:
        for feature, options in OPTIONS.items():
            filled = _fill_category(frame, feature)
            for option in options:
                out[f"{feature}_{option}"] = filled == option
    result = pd.DataFrame(out)
    return result[feature_names(level)].astype(float)


def _fill_category(frame: pd.DataFrame, feature: str) -> pd.Series:
    """Fill one categorical column's gaps by its rule."""
    if feature in CONSTANT_FILLS:
        return frame[feature].fillna(CONSTANT_FILLS[feature])
    # Next valid value in row order; a trailing run has none, so it takes the previous one.
    return frame[feature].bfill().ffill()


def _check_level(level: int) -> None:
    """Reject a level other than 1 or 2."""
    if level not in (1, 2):
        raise ValueError(f"level must be 1 or 2, not {level!r}")
