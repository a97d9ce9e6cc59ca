"""Module 4: the prediction API (starter code).

Run it with `python3 app.py --port 5001`. It serves POST /predict on 127.0.0.1.

The README's module 4 section is the specification. What is left to do:

TODO (level 1)
- answer requests whose Content-Type is not JSON with the content-type error (415);
- check the body's shape and answer each kind of problem with its own message (400);
- predict with the model below and answer {"prediction": value}, rounded to 3 decimals.

TODO (level 2)
- answer inputs that lie outside 3 standard deviations of the training data with the
  anomaly error (422); `model/train.csv` holds the training data.

Flask is only a suggestion: any framework the runtime provides (see requirements.txt), or the
standard library, will do, as long as the command above still starts the API.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

from flask import Flask, Response, jsonify

MODEL_DIR = Path(__file__).resolve().parent / "model"

# A scikit-learn regressor over 7 numeric features: MODEL.predict([[a1, ..., a7]]) returns an
# array holding one prediction. Do not retrain or replace it; the grader uses this copy.
with (MODEL_DIR / "model.pkl").open("rb") as handle:
    MODEL = pickle.load(handle)

app = Flask(__name__)


@app.post("/predict")
def predict() -> tuple[Response, int]:
    """Answer one prediction request. Not implemented yet: see the TODO list above."""
    return jsonify({"error": "not implemented"}), 501


def main() -> None:
    """Parse --port and serve the API on 127.0.0.1."""
    parser = argparse.ArgumentParser(description="Serve the module 4 prediction API.")
    parser.add_argument("--port", type=int, default=5001, help="port to listen on (default 5001)")
    args = parser.parse_args()
    app.run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
