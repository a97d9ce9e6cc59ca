"""Module 3, partly done: loading and level 1 work, level 2 is not started.

``build_preprocessor(2)`` returns the level 1 preprocessor, so level 2's one-hot features are
missing. ``python pipeline.py`` still writes both pickles.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer

ROOT = Path(__file__).resolve().parent
LEVELS = (1, 2)


def load_data(folder: str | Path) -> pd.DataFrame:
    """Read every ``*.csv`` part in ``folder`` and return them as one frame sorted by ``id``."""
    frames = [pd.read_csv(path) for path in sorted(Path(folder).glob("*.csv"))]
    return pd.concat(frames, ignore_index=True).sort_values("id").reset_index(drop=True)


def build_preprocessor(level: int) -> BaseEstimator:
    """Return the level 1 preprocessor, whatever the level (level 2 is not done)."""
    return ColumnTransformer(
        [
            ("kept", "passthrough", ["id", "satisfaction"]),
            ("age", SimpleImputer(strategy="median"), ["age"]),
            (
                "travel",
                SimpleImputer(strategy="mean"),
                ["averageTravelDistance", "travelFrequency", "travelExpenses"],
            ),
        ],
        verbose_feature_names_out=False,
    )


def save_preprocessors(root: Path = ROOT) -> list[Path]:
    """Pickle both levels' unfitted preprocessors and return the files written."""
    written = []
    for level in LEVELS:
        path = root / "preprocessors" / f"level{level}" / "preprocessor.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            pickle.dump(build_preprocessor(level), handle)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in save_preprocessors():
        print(f"wrote {written_path.relative_to(ROOT)}")
