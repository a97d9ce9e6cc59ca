"""A GitHub-shaped HTTP server on 127.0.0.1 for the tests, and the `fake_github` fixture.

The server answers the REST endpoints our GitHub gateway calls (under /api/v3, as GitHub
Enterprise lays them out), serves real bare git repositories over git's smart HTTP, records
repository events and delivers signed webhooks to 127.0.0.1, and lets a test inject faults.
`control.FakeGitHub` documents the control API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .control import AppCredentials, FakeGitHub
from .faults import Fault, RequestRecord
from .webhooks import Delivery

__all__ = [
    "AppCredentials",
    "Delivery",
    "FakeGitHub",
    "Fault",
    "RequestRecord",
    "bypass_proxies",
    "fake_github",
]


def bypass_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 never go through a proxy, whatever the environment says."""
    for name in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(name, "")
        monkeypatch.setenv(name, ",".join(filter(None, [current, "127.0.0.1", "localhost"])))


@pytest.fixture(name="fake_github")
def fake_github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A started server, stopped after the test. A bug in the server (an exception in a
    handler, answered 500) fails the test at teardown."""
    bypass_proxies(monkeypatch)
    with FakeGitHub(tmp_path / "fakegithub") as server:
        yield server
    if server.errors:
        pytest.fail("fake GitHub server raised:\n" + "\n".join(server.errors))
