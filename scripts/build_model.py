"""Build module 4's regression model, its training data and the grader's copy of its parameters.

The data is a synthetic food-delivery data set: seven numeric order features and the minutes
the delivery took. A LinearRegression is fitted on it, so the grader can reproduce every
prediction with plain arithmetic from `model_params.json`, without scikit-learn.

Run it with the grading runtime's Python (the one built from the template's requirements):

    /tmp/rt/v/bin/python scripts/build_model.py [--out-root DIR]

It is deterministic: two runs write byte-identical files. It writes, under the repository root
(or DIR):
- `template_repo/model/model.pkl`: the fitted estimator, pickled;
- `template_repo/model/train.csv`: the seven features and the target, with a header row;
- `hidden_tests/module4/model_params.json`: coefficients, intercept, feature names, and each
  feature's mean, population std (ddof=0) and sample std (ddof=1).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
from pathlib import Path

import numpy as np
from sklearn.linear_model import LinearRegression

# hidden_tests.CANARY (this script runs on the grading runtime, which cannot import it): the
# parameters are hidden data, and the attack suite checks the canary never reaches a candidate.
CANARY = "MLEA-CANARY-3c9e1f0b7d2a"

SEED = 20260417
N_ROWS = 500
TARGET = "delivery_minutes"
# (name, decimals kept in the CSV); 0 decimals means an integer column.
FEATURES: list[tuple[str, int]] = [
    ("distance_km", 2),
    ("items_count", 0),
    ("order_value_eur", 2),
    ("courier_experience_months", 0),
    ("traffic_index", 1),
    ("temperature_c", 1),
    ("prep_time_min", 1),
]
REPO_ROOT = Path(__file__).resolve().parents[1]


def generate(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw `n` orders and their delivery times, rounded as they are stored in the CSV."""
    # Distributions are chosen so that mean - 2.5 std stays positive for the features that
    # cannot be negative: the hidden "normal" inputs are drawn up to 2.4 std from the mean.
    columns = [
        rng.gamma(9.0, 0.65, n),
        2 + rng.poisson(4.0, n),
        rng.lognormal(3.7, 0.3, n),
        rng.gamma(9.0, 4.0, n),
        np.clip(rng.normal(55.0, 15.0, n), 0.0, 100.0),
        rng.normal(14.0, 8.0, n),
        np.clip(rng.normal(12.0, 3.5, n), 2.0, None),
    ]
    x = np.column_stack(
        [np.round(col, decimals) for col, (_, decimals) in zip(columns, FEATURES, strict=True)]
    ).astype(np.float64)
    weights = np.array([3.1, 0.9, 0.02, -0.08, 0.12, -0.05, 0.85])
    noise = rng.normal(0.0, 3.0, n)
    y = np.round(8.0 + x @ weights + noise, 2)
    return x, y


def write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Write the training table with a header row; integer columns are written without '.0'."""
    names = [name for name, _ in FEATURES] + [TARGET]
    decimals = [d for _, d in FEATURES] + [2]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for row_x, row_y in zip(x, y, strict=True):
            values = [*row_x.tolist(), float(row_y)]
            writer.writerow(
                [str(int(v)) if d == 0 else repr(v) for v, d in zip(values, decimals, strict=True)]
            )


def params_of(model: LinearRegression, x: np.ndarray) -> dict[str, object]:
    """Everything the grader needs to predict and to judge anomalies, as plain Python floats."""
    return {
        "coef": [float(c) for c in model.coef_],
        "intercept": float(model.intercept_),
        "features": [name for name, _ in FEATURES],
        "mean": [float(v) for v in x.mean(axis=0)],
        "std": [float(v) for v in x.std(axis=0, ddof=0)],
        "std_sample": [float(v) for v in x.std(axis=0, ddof=1)],
        "canary": CANARY,
    }


def build(*, out_root: Path = REPO_ROOT) -> None:
    """Generate the data, fit the model and write the three files under `out_root`."""
    x, y = generate(np.random.default_rng(SEED), N_ROWS)
    # Fitted on a bare array, so predicting on a plain list raises no feature-name warning.
    model = LinearRegression().fit(x, y)
    model_dir = out_root / "template_repo" / "model"
    params_dir = out_root / "hidden_tests" / "module4"
    model_dir.mkdir(parents=True, exist_ok=True)
    params_dir.mkdir(parents=True, exist_ok=True)
    with (model_dir / "model.pkl").open("wb") as handle:
        pickle.dump(model, handle, protocol=4)
    write_csv(model_dir / "train.csv", x, y)
    text = json.dumps(params_of(model, x), indent=2) + "\n"
    (params_dir / "model_params.json").write_text(text, encoding="utf-8")


def main() -> None:
    """Parse the command line and build."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-root",
        type=Path,
        default=REPO_ROOT,
        help="folder that receives template_repo/ and hidden_tests/ outputs",
    )
    build(out_root=parser.parse_args().out_root)


if __name__ == "__main__":
    main()
