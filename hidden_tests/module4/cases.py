"""Hidden request cases for module 4, the prediction API.

Standard library only: the grader builds these cases in its own process and compares the
app's answers itself. `params` is the dict stored in `model_params.json` next to this file
(written by `scripts/build_model.py`); every input and expected body depends only on `params`
and the seed.

Rules the inputs follow, so that each check tests only what the candidate's README states:
- level-1 inputs stay within 2 std of the training mean (valid predictions within 1.5 std),
  so an app that also does level 2's anomaly detection passes level 1;
- level-2 anomalies put one feature 4 to 6 std from the mean and the others within 1 std;
  level-2 normal inputs stay within 2.4 std; so no input is near the 3-std bound and the
  choice of population or sample std cannot matter;
- a prediction is used only if its unrounded value is more than 1e-4 from a rounding tie
  (x.xxx5), and only if rounding it to 3 decimals differs from rounding it to 2, so that an
  app rounding to the wrong number of decimals fails every prediction check.
"""

# canary: MLEA-CANARY-3c9e1f0b7d2a

from __future__ import annotations

import json
import random
from dataclasses import dataclass

N_FEATURES = 7
MSG_CONTENT_TYPE = "Content-Type not supported."
MSG_NOT_DICT = "Input data should be a dictionary."
MSG_NO_KEY = 'Input data should have "features" key.'
MSG_BAD_FEATURES = 'Input data should have a list of 7 numbers as a value of "features" key.'
MSG_ANOMALY = "Could not process request, anomaly detected."
JSON = "application/json"
N_LEVEL1_PREDICTIONS = 5
N_LEVEL2_NORMALS = 3
TIE_MARGIN = 1e-4


@dataclass(frozen=True)
class Case:
    """One POST to /predict and the exact answer expected."""

    name: str  # the behaviour, as a candidate would recognise it from the README
    level: int  # 1 or 2
    content_type: str | None  # None: the request carries no Content-Type header
    body: bytes
    status: int
    expected: dict  # the exact JSON body expected


def predict(params: dict, features: list[float]) -> float:
    """The linear model's unrounded output: coef . features + intercept."""
    total = float(params["intercept"])
    for coef, value in zip(params["coef"], features, strict=True):
        total += float(coef) * float(value)
    return total


def cases(level: int, seed: int, params: dict) -> list[Case]:
    """The hidden cases of one level (1 or 2), drawn from `seed`."""
    rng = random.Random(f"module4:level{level}:{seed}")
    if level == 1:
        return _level1(rng, params)
    if level == 2:
        return _level2(rng, params)
    raise ValueError(f"module 4 has levels 1 and 2, not {level!r}")


def _body(payload: object) -> bytes:
    return json.dumps(payload).encode("utf-8")


def _near_mean(rng: random.Random, params: dict, spread: float) -> list[float]:
    """Each feature within `spread` std of its mean, at 2 decimals."""
    return [
        round(m + rng.uniform(-spread, spread) * s, 2)
        for m, s in zip(params["mean"], params["std"], strict=True)
    ]


def _usable(value: float) -> bool:
    """Far from a 3-decimal rounding tie, and different once rounded to 2 decimals."""
    distance_to_tie = abs((value * 1000) % 1 - 0.5) / 1000
    return distance_to_tie > TIE_MARGIN and round(value, 3) != round(value, 2)


def _prediction_case(name: str, level: int, params: dict, features: list) -> Case:
    value = round(predict(params, features), 3)
    return Case(name, level, JSON, _body({"features": features}), 200, {"prediction": value})


def _draw_valid(rng: random.Random, params: dict, spread: float, as_int: bool = False) -> list:
    """A valid input within `spread` std (2 std once made integer) whose prediction is usable."""
    while True:
        features: list = _near_mean(rng, params, spread)
        if as_int:
            features = [int(round(v)) for v in features]
        if _within(params, features, 2.0) and _usable(predict(params, features)):
            return features


def _within(params: dict, features: list, k: float) -> bool:
    return all(
        abs(v - m) <= k * s for v, m, s in zip(features, params["mean"], params["std"], strict=True)
    )


def _level1(rng: random.Random, params: dict) -> list[Case]:
    return (
        _level1_content_type(rng, params)
        + _level1_shape(rng, params)
        + _level1_predictions(rng, params)
    )


def _level1_content_type(rng: random.Random, params: dict) -> list[Case]:
    body = _body({"features": _near_mean(rng, params, 1.0)})
    wrong_types = [
        ("a text/plain request", "text/plain"),
        ("a form-encoded request", "application/x-www-form-urlencoded"),
        ("a request without a Content-Type header", None),
    ]
    return [
        Case(
            f"{what} gets 415 with the content-type error",
            1,
            content_type,
            body,
            415,
            {"error": MSG_CONTENT_TYPE},
        )
        for what, content_type in wrong_types
    ]


def _level1_shape(rng: random.Random, params: dict) -> list[Case]:
    x = _near_mean(rng, params, 1.0)
    not_dict = {"error": MSG_NOT_DICT}
    bad = {"error": MSG_BAD_FEATURES}
    shape_cases = [
        ("a JSON list body gets 400: input should be a dictionary", x, not_dict),
        ("a JSON string body gets 400: input should be a dictionary", "features", not_dict),
        ("a JSON number body gets 400: input should be a dictionary", x[0], not_dict),
        ('a dictionary without the "features" key gets 400', {"inputs": x}, {"error": MSG_NO_KEY}),
        ("6 features instead of 7 get 400", {"features": x[:6]}, bad),
        ("8 features instead of 7 get 400", {"features": [*x, x[0]]}, bad),
        ("a string among the features gets 400", {"features": [*x[:3], str(x[3]), *x[4:]]}, bad),
        ("a null among the features gets 400", {"features": [*x[:5], None, x[6]]}, bad),
        (
            "a nested list among the features gets 400",
            {"features": [*x[:2], [x[2], x[3]], *x[4:]] + [x[0]]},
            bad,
        ),
        (
            "a boolean among the features gets 400 (booleans are not numbers)",
            {"features": [*x[:4], True, *x[5:]]},
            bad,
        ),
        (
            '"features" given as a dictionary gets 400',
            {"features": {f"a{i + 1}": v for i, v in enumerate(x)}},
            bad,
        ),
        ('"features" given as a string gets 400', {"features": ",".join(str(v) for v in x)}, bad),
    ]
    return [
        Case(name, 1, JSON, _body(payload), 400, expected)
        for name, payload, expected in shape_cases
    ]


def _level1_predictions(rng: random.Random, params: dict) -> list[Case]:
    result = [
        _prediction_case(
            "a valid request with whole-number features gets its prediction rounded to 3 decimals",
            1,
            params,
            _draw_valid(rng, params, 1.5, as_int=True),
        )
    ]
    for i in range(2, N_LEVEL1_PREDICTIONS + 1):
        result.append(
            _prediction_case(
                f"valid request {i} gets its prediction rounded to 3 decimals",
                1,
                params,
                _draw_valid(rng, params, 1.5),
            )
        )
    return result


def _level2(rng: random.Random, params: dict) -> list[Case]:
    result = []
    error = {"error": MSG_ANOMALY}
    for i, name in enumerate(params["features"]):
        for side, sign in (("above", 1.0), ("below", -1.0)):
            features = _near_mean(rng, params, 1.0)
            k = rng.uniform(4.0, 6.0)
            features[i] = round(params["mean"][i] + sign * k * params["std"][i], 2)
            result.append(
                Case(
                    f"{name} (feature {i + 1}) more than 3 std {side} its training mean gets 422",
                    2,
                    JSON,
                    _body({"features": features}),
                    422,
                    error,
                )
            )
    for j in range(1, N_LEVEL2_NORMALS + 1):
        result.append(
            _prediction_case(
                f"normal input {j} (inside 3 std) is still predicted, rounded to 3 decimals",
                2,
                params,
                _draw_level2_normal(rng, params),
            )
        )
    return result


def _draw_level2_normal(rng: random.Random, params: dict) -> list[float]:
    """Two features 2.0-2.4 std from the mean (inside the bound), the rest within 1 std."""
    while True:
        features = _near_mean(rng, params, 1.0)
        for i in rng.sample(range(N_FEATURES), 2):
            sign = rng.choice((1.0, -1.0))
            shift = sign * rng.uniform(2.0, 2.4) * params["std"][i]
            features[i] = round(params["mean"][i] + shift, 2)
        if _usable(predict(params, features)):
            return features
