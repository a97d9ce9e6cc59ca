"""Module 3: load the survey data and build the preprocessors.

Running ``python pipeline.py`` fits nothing: it builds both levels' preprocessors, unfitted,
and pickles them to ``preprocessors/level1/preprocessor.pkl`` and
``preprocessors/level2/preprocessor.pkl``, next to this file. The one custom class lives in
``custom_transformers.py``, so the pickles never refer to ``__main__``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
from custom_transformers import BackFillImputer
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

ROOT = Path(__file__).resolve().parent
LEVELS = (1, 2)

KEPT = ["id", "satisfaction"]
MEAN_FILLED = ["averageTravelDistance", "travelFrequency", "travelExpenses"]
GENDERS = ["male", "female", "didn't share"]
TRANSPORTS = ["tram", "trolleybus", "bus", "underground", "bicycle", "no preference"]
REASONS = ["job", "university", "fun activities", "countryside", "hospital"]


def load_data(folder: str | Path) -> pd.DataFrame:
    """Read every ``*.csv`` part in ``folder`` and return them as one frame sorted by ``id``."""
    paths = sorted(Path(folder).glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"no CSV files in {folder}")
    frame = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


def _one_hot(options: list[str]) -> OneHotEncoder:
    """Encode one column with a fixed column per option, present in the data or not."""
    return OneHotEncoder(categories=[options], handle_unknown="ignore", sparse_output=False)


def _level1_steps() -> list[tuple[str, object, list[str]]]:
    """Numeric features: keep id and satisfaction, fill age by median, travel by mean."""
    return [
        ("kept", "passthrough", KEPT),
        ("age", SimpleImputer(strategy="median"), ["age"]),
        ("travel", SimpleImputer(strategy="mean"), MEAN_FILLED),
    ]


def _level2_steps() -> list[tuple[str, object, list[str]]]:
    """Categorical features: fill each column's gaps by its rule, then one-hot encode it."""
    gender = Pipeline(
        [
            ("fill", SimpleImputer(strategy="constant", fill_value="didn't share")),
            ("encode", _one_hot(GENDERS)),
        ]
    )
    transport = Pipeline(
        [
            ("fill", SimpleImputer(strategy="constant", fill_value="no preference")),
            ("encode", _one_hot(TRANSPORTS)),
        ]
    )
    reason = Pipeline([("fill", BackFillImputer()), ("encode", _one_hot(REASONS))])
    return [
        ("gender", gender, ["gender"]),
        ("favouriteTransport", transport, ["favouriteTransport"]),
        ("reason", reason, ["reason"]),
    ]


def build_preprocessor(level: int) -> BaseEstimator:
    """Return an unfitted preprocessor for ``level`` (1 or 2).

    Columns not named in a step, such as ``transportCardId``, are dropped. Output features
    keep their own names, and one-hot columns are called ``<feature>_<option>``.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be 1 or 2, not {level!r}")
    steps = _level1_steps() + (_level2_steps() if level == 2 else [])
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)


def preprocessor_path(level: int, root: Path = ROOT) -> Path:
    """Return where the pickled preprocessor of ``level`` is kept."""
    return root / "preprocessors" / f"level{level}" / "preprocessor.pkl"


def save_preprocessors(root: Path = ROOT) -> list[Path]:
    """Pickle both levels' unfitted preprocessors and return the files written."""
    # Build every preprocessor before writing, so a failure leaves no partial output.
    built = {level: build_preprocessor(level) for level in LEVELS}
    written = []
    for level, preprocessor in built.items():
        path = preprocessor_path(level, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            pickle.dump(preprocessor, handle)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in save_preprocessors():
        print(f"wrote {written_path.relative_to(ROOT)}")
