"""Module 4 reference solution: a Flask prediction API with input checks and 3-sigma anomalies."""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
from flask import Flask, Response, jsonify, request

MODEL_DIR = Path(__file__).resolve().parent / "model"
with (MODEL_DIR / "model.pkl").open("rb") as handle:
    MODEL = pickle.load(handle)
# The first 7 columns are the features; the last one is the target.
TRAIN = pd.read_csv(MODEL_DIR / "train.csv").iloc[:, :7]
MEAN, STD = TRAIN.mean().to_numpy(), TRAIN.std(ddof=0).to_numpy()

app = Flask(__name__)


def error(message: str, status: int) -> tuple[Response, int]:
    """A JSON error body with its status code."""
    return jsonify({"error": message}), status


def is_number(value: object) -> bool:
    """JSON numbers only: bool is a subclass of int in Python, but true/false are not numbers."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@app.post("/predict")
def predict() -> tuple[Response, int]:
    """Validate the request, reject anomalies, and answer the model's rounded prediction."""
    if request.mimetype != "application/json":
        return error("Content-Type not supported.", 415)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return error("Input data should be a dictionary.", 400)
    if "features" not in data:
        return error('Input data should have "features" key.', 400)
    features = data["features"]
    if not (isinstance(features, list) and len(features) == 7 and all(map(is_number, features))):
        message = 'Input data should have a list of 7 numbers as a value of "features" key.'
        return error(message, 400)
    if (np.abs(np.array(features, dtype=float) - MEAN) > 3 * STD).any():
        return error("Could not process request, anomaly detected.", 422)
    return jsonify({"prediction": round(float(MODEL.predict([features])[0]), 3)}), 200


def main() -> None:
    """Parse --port and serve the API on 127.0.0.1."""
    parser = argparse.ArgumentParser(description="Serve the module 4 prediction API.")
    parser.add_argument("--port", type=int, default=5001, help="port to listen on (default 5001)")
    app.run(host="127.0.0.1", port=parser.parse_args().port)


if __name__ == "__main__":
    main()
