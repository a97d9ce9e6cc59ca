"""Module 3: load the survey data and build the preprocessors.

Running ``python pipeline.py`` fits nothing: it builds both levels' preprocessors, unfitted,
and pickles them to ``preprocessors/level1/preprocessor.pkl`` and
``preprocessors/level2/preprocessor.pkl``, next to this file. Keep any class you write in
``custom_transformers.py``: a class defined here would be pickled as ``__main__.<name>`` and
could not be loaded anywhere else.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
from sklearn.base import BaseEstimator

ROOT = Path(__file__).resolve().parent
LEVELS = (1, 2)


def load_data(folder: str | Path) -> pd.DataFrame:
    """Read every ``*.csv`` part in ``folder`` and return them as one frame.

    The result holds every row of every part, with the parts' columns, and its rows are
    sorted by ``id``. Missing values stay missing (NaN).
    """
    # TODO: module 3, both levels.
    raise NotImplementedError("load_data is not written yet")


def build_preprocessor(level: int) -> BaseEstimator:
    """Return an unfitted preprocessor for ``level`` (1 or 2).

    It must support ``fit_transform(frame)`` and then ``get_feature_names_out()``, where
    ``frame`` is the combined data of that level: every column, rows sorted by ``id``.
    See the README for the features each level must output.
    """
    # TODO: module 3, level 1, then level 2.
    raise NotImplementedError(f"the level {level} preprocessor is not written yet")


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
