"""Public checks for module 4, the prediction API.

They start `app.py --port N` on a free port, as the grader does, and send a few requests. The
graded checks are more numerous and use other inputs; passing these is a start, not a score.
"""

from __future__ import annotations

import csv
import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 20.0
HOSTS = ("127.0.0.1", "::1")  # the grader tries IPv4 first, then IPv6


def free_port() -> int:
    """A port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(host: str, port: int, body: bytes, content_type: str | None) -> tuple[int, str, bytes]:
    """POST to /predict; returns status, response Content-Type and body."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", "/predict", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def wait_until_answering(proc: subprocess.Popen, port: int) -> str:
    """The host on which the app answers; fails if it exits or is silent for 20 seconds."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app.py exited with code {proc.returncode} before answering")
        for host in HOSTS:
            try:
                post(host, port, b"{}", "application/json")
                return host
            except OSError:
                pass
        time.sleep(0.2)
    pytest.fail(f"app.py did not answer on port {port} within {START_TIMEOUT:.0f} s")


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, int]]:
    """The candidate's app, started as the grader starts it; yields (host, port)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield wait_until_answering(proc, port), port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def a_training_row() -> list[float]:
    """The 7 features of the first row of the training data: an ordinary, valid input."""
    with (REPO / "model" / "train.csv").open(newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    return [float(value) for value in list(row.values())[:7]]


def assert_json_answer(answer: tuple[int, str, bytes], status: int) -> object:
    """Check status and JSON content type together; return the parsed body."""
    got_status, content_type, body = answer
    assert got_status == status, f"expected status {status}, got {got_status}"
    assert content_type.split(";")[0].strip() == "application/json", "response is not JSON"
    return json.loads(body)


def test_valid_request_gets_a_float_prediction(api: tuple[str, int]) -> None:
    """A valid JSON request gets 200 and {"prediction": <float>}."""
    body = json.dumps({"features": a_training_row()}).encode()
    data = assert_json_answer(post(*api, body, "application/json"), 200)
    assert isinstance(data, dict) and set(data) == {"prediction"}
    assert isinstance(data["prediction"], float)
    assert data["prediction"] == round(data["prediction"], 3), "round to 3 decimals"


def test_text_plain_gets_415(api: tuple[str, int]) -> None:
    """A text/plain request gets 415 with the exact content-type message."""
    body = json.dumps({"features": a_training_row()}).encode()
    data = assert_json_answer(post(*api, body, "text/plain"), 415)
    assert data == {"error": "Content-Type not supported."}


def test_json_list_gets_400(api: tuple[str, int]) -> None:
    """A JSON list instead of a dictionary gets 400 with the exact message."""
    body = json.dumps(a_training_row()).encode()
    data = assert_json_answer(post(*api, body, "application/json"), 400)
    assert data == {"error": "Input data should be a dictionary."}
