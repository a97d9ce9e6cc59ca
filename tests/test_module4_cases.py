"""Module 4's hidden cases, judged against the reference, the partial solutions and the starter.

Each solution is a copy of `template_repo/` with its overlay from `hidden_tests/solutions/` on
top. Its `app.py` runs on the grading runtime's Python, and
every case of both levels is sent to it over loopback HTTP.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import math
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from mle_assess.runtime import find as find_runtime

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template_repo"
MODULE4 = ROOT / "hidden_tests" / "module4"
SOLUTIONS = ROOT / "hidden_tests" / "solutions"
RUNTIME = find_runtime().python
SEEDS = (0, 4242)
START_TIMEOUT = 20.0


def _load_cases() -> ModuleType:
    # Registered in sys.modules before running: dataclasses looks its module up there.
    spec = importlib.util.spec_from_file_location("m4_hidden_cases", MODULE4 / "cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


m4 = _load_cases()
PARAMS: dict = json.loads((MODULE4 / "model_params.json").read_text(encoding="utf-8"))


def all_cases(seed: int) -> list:
    """Both levels' cases for one seed."""
    return m4.cases(1, seed, PARAMS) + m4.cases(2, seed, PARAMS)


def features_of(case: object) -> list | None:
    """The feature list of a well-formed body, else None."""
    try:
        payload = json.loads(case.body)
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("features"), list):
        return None
    values = payload["features"]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return values if numeric and len(values) == m4.N_FEATURES else None


# --- running a solution -------------------------------------------------------------------


def build_submission(name: str, dest: Path) -> Path:
    """Copy the template, then lay the named overlay (none for 'starter') on top."""
    shutil.copytree(TEMPLATE, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    if name != "starter":
        overlay = SOLUTIONS / name
        for src in overlay.rglob("*"):
            if src.is_file():
                target = dest / src.relative_to(overlay)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
    return dest


def free_port() -> int:
    """A port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def send(port: int, case: object) -> tuple[int, str, bytes]:
    """POST one case with http.client: urllib would add a form Content-Type when none is set."""
    headers = {} if case.content_type is None else {"Content-Type": case.content_type}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/predict", body=case.body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def passes(answer: tuple[int, str, bytes], case: object) -> bool:
    """Status, JSON content type and exact body, all together."""
    status, content_type, body = answer
    if status != case.status or content_type.split(";")[0].strip() != "application/json":
        return False
    try:
        return json.loads(body) == case.expected
    except ValueError:
        return False


def wait_until_answering(proc: subprocess.Popen, port: int) -> None:
    """Return once the app accepts a connection; fail if it exits or stays silent."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"app exited with code {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"app did not answer on port {port} within {START_TIMEOUT} s")


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[int, int, str]]]:
    """For each solution, the (seed, level, name) of every case it fails."""
    result = {}
    for name in ("reference", "m4_no_anomaly", "m4_round2", "starter"):
        repo = build_submission(name, tmp_path_factory.mktemp(name) / "repo")
        port = free_port()
        proc = subprocess.Popen(
            [str(RUNTIME), "app.py", "--port", str(port)],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_answering(proc, port)
            result[name] = {
                (seed, c.level, c.name)
                for seed in SEEDS
                for c in all_cases(seed)
                if not passes(send(port, c), c)
            }
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return result


def keys(select: object) -> set[tuple[int, int, str]]:
    """(seed, level, name) of every case for which `select(case)` holds."""
    return {(seed, c.level, c.name) for seed in SEEDS for c in all_cases(seed) if select(c)}


# --- solutions against the cases ----------------------------------------------------------


def test_reference_passes_every_case(failures: dict) -> None:
    assert failures["reference"] == set()


def test_no_anomaly_fails_exactly_the_anomaly_cases(failures: dict) -> None:
    anomalies = keys(lambda c: c.status == 422)
    assert anomalies and all(level == 2 for _, level, _ in anomalies)
    assert failures["m4_no_anomaly"] == anomalies


def test_round2_fails_exactly_the_prediction_cases(failures: dict) -> None:
    predictions = keys(lambda c: c.status == 200)
    assert {level for _, level, _ in predictions} == {1, 2}
    assert failures["m4_round2"] == predictions


def test_starter_passes_nothing(failures: dict) -> None:
    assert failures["starter"] == keys(lambda c: True)


# --- the cases themselves -----------------------------------------------------------------


def test_predict_matches_the_pickled_model() -> None:
    inputs = [f for seed in SEEDS for c in all_cases(seed) if (f := features_of(c)) is not None]
    script = (
        "import json, pickle, sys\n"
        "model = pickle.load(open(sys.argv[1], 'rb'))\n"
        "print(json.dumps([float(v) for v in model.predict(json.load(sys.stdin))]))\n"
    )
    out = subprocess.run(
        [str(RUNTIME), "-W", "error", "-c", script, str(TEMPLATE / "model" / "model.pkl")],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for features, expected in zip(inputs, json.loads(out.stdout), strict=True):
        assert abs(m4.predict(PARAMS, features) - expected) < 1e-9


def test_cases_are_deterministic_and_vary_with_the_seed() -> None:
    for level in (1, 2):
        assert m4.cases(level, 7, PARAMS) == m4.cases(level, 7, PARAMS)
        assert m4.cases(level, 7, PARAMS) != m4.cases(level, 8, PARAMS)


def test_case_names_are_unique_and_levels_are_right() -> None:
    for seed in SEEDS:
        for level in (1, 2):
            level_cases = m4.cases(level, seed, PARAMS)
            assert len({c.name for c in level_cases}) == len(level_cases)
            assert {c.level for c in level_cases} == {level}


def test_every_prediction_is_clear_of_ties_and_differs_at_two_decimals() -> None:
    for seed in SEEDS:
        for case in all_cases(seed):
            if case.status != 200:
                continue
            value = m4.predict(PARAMS, features_of(case))
            assert case.expected == {"prediction": round(value, 3)}
            assert abs((value * 1000) % 1 - 0.5) > 0.1, "within 1e-4 of a rounding tie"
            assert round(value, 3) != round(value, 2)


def z_scores(features: list, std_key: str) -> list[float]:
    """How many std each feature lies from its training mean."""
    return [
        abs(v - m) / s for v, m, s in zip(features, PARAMS["mean"], PARAMS[std_key], strict=True)
    ]


@pytest.mark.parametrize("std_key", ["std", "std_sample"])
def test_inputs_keep_clear_of_the_three_sigma_bound(std_key: str) -> None:
    for seed in SEEDS:
        for case in all_cases(seed):
            features = features_of(case)
            if features is None:
                continue
            z = z_scores(features, std_key)
            assert not any(2.5 <= v <= 3.5 for v in z), case.name
            if case.level == 1:
                assert max(z) <= 2.0, case.name
            if case.status == 422:
                assert max(z) >= 3.5, case.name


def test_whole_number_case_sends_integers_only() -> None:
    for seed in SEEDS:
        whole = [c for c in m4.cases(1, seed, PARAMS) if "whole-number" in c.name]
        assert len(whole) == 1
        assert all(type(v) is int for v in features_of(whole[0]))


def test_build_model_reproduces_the_committed_files(tmp_path: Path) -> None:
    subprocess.run(
        [str(RUNTIME), str(ROOT / "scripts" / "build_model.py"), "--out-root", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    rebuilt_csv = (tmp_path / "template_repo" / "model" / "train.csv").read_bytes()
    assert rebuilt_csv == (TEMPLATE / "model" / "train.csv").read_bytes()
    rebuilt = json.loads((tmp_path / "hidden_tests" / "module4" / "model_params.json").read_text())
    assert rebuilt.keys() == PARAMS.keys() and rebuilt["features"] == PARAMS["features"]
    for key in ("coef", "mean", "std", "std_sample"):
        assert all(
            math.isclose(a, b, rel_tol=1e-9) for a, b in zip(rebuilt[key], PARAMS[key], strict=True)
        )
    assert math.isclose(rebuilt["intercept"], PARAMS["intercept"], rel_tol=1e-9)


def test_hidden_parameters_carry_the_canary() -> None:
    from hidden_tests import CANARY

    assert PARAMS["canary"] == CANARY
