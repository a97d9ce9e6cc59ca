"""Custom transformers for the module 3 preprocessors.

They live here, not in ``pipeline.py``, so that a pickle names them
``custom_transformers.<class>`` and any program that can import this module can load it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class BackFillImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Fill each gap with the next valid value in row order.

    Gaps after the last valid value have no next value, so they take the previous one. The
    transformer learns nothing: the fill depends only on the rows it is given, in their order.
    """

    def fit(self, X: pd.DataFrame | np.ndarray, y: object = None) -> BackFillImputer:
        """Record the input's width and column names; there is nothing else to learn."""
        frame = _as_frame(X)
        self.n_features_in_ = frame.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """Return a copy of ``X`` with every gap filled."""
        check_is_fitted(self, "n_features_in_")
        frame = _as_frame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} columns, got {frame.shape[1]}")
        return frame.bfill().ffill()


def _as_frame(X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    """View the input as a DataFrame without changing its row order."""
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
