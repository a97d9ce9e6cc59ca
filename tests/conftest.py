"""Shared fixtures: the grading runtime, sample submissions built once, and a grader that
validates every results.json it produces against the schema."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakegithub import FakeGitHub, bypass_proxies
from pgserver import PgServer, Unavailable
from sqlalchemy import Engine, event

from hidden_tests.solutions import SAMPLES, build_sample
from mle_assess import TEMPLATE_DIR, sandbox
from mle_assess import grade as grading
from mle_assess.grade.report import Results, validate
from mle_assess.runtime import Runtime, find
from scoring import Config, load_config

FAST_LIMITS = {"level_seconds": 12, "app_startup_seconds": 6}


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    """The installed grading runtime; `make test` installs it first, so a miss is a failure."""
    return find()


@pytest.fixture(scope="session")
def full_isolation() -> str:
    """Full isolation. As root it must work: the test fails rather than skips. Only without
    root (a laptop) are the tests that need it skipped, saying so."""
    if os.geteuid() != 0:
        pytest.skip("full isolation needs root; run the suite as root (CI does)")
    ok, why = sandbox.available()
    if not ok:
        pytest.fail(f"running as root, yet full isolation is unavailable: {why}")
    return sandbox.FULL


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory, runtime: Runtime) -> dict[str, Path]:
    """Every sample submission (template + solution overlay), built once per session."""
    root = tmp_path_factory.mktemp("samples")
    return {
        name: build_sample(name, root / name, runtime_python=runtime.python) for name in SAMPLES
    }


@pytest.fixture
def submission(tmp_path: Path, samples: dict[str, Path]) -> Callable[[str], Path]:
    """A private, editable copy of a sample: `submission("reference")`."""

    def copy(name: str) -> Path:
        dest = tmp_path / f"sub-{name}"
        shutil.copytree(samples[name], dest, symlinks=True)
        return dest

    return copy


@pytest.fixture(scope="session")
def fast_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The default config with shorter time limits, for the tests that wait on a hang."""
    text = (Path(load_config().source)).read_text(encoding="utf-8")
    for name, value in FAST_LIMITS.items():
        text = "\n".join(
            f"{name} = {value}" if line.startswith(f"{name} ") else line
            for line in text.splitlines()
        )
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_text(text + "\n", encoding="utf-8")
    return load_config(path)


@pytest.fixture(scope="session")
def graded_session(
    tmp_path_factory: pytest.TempPathFactory, samples: dict[str, Path], runtime: Runtime
) -> Callable[[str], Results]:
    """Grade a named sample once per session (cached), schema-checked."""
    cache: dict[str, Results] = {}

    def grade_sample(name: str) -> Results:
        if name not in cache:
            out = tmp_path_factory.mktemp(f"out-{name}")
            cache[name] = grading.main(submission=samples[name], out=out, runtime=runtime)
            check_written(out)
        return cache[name]

    return grade_sample


@pytest.fixture
def grade(tmp_path: Path, runtime: Runtime) -> Callable[..., tuple[Results, Path]]:
    """Grade any folder into a fresh output folder; the written results.json is schema-checked."""
    counter = iter(range(1000))

    def run(folder: Path, **kwargs) -> tuple[Results, Path]:
        out = tmp_path / f"out-{next(counter)}"
        results = grading.main(submission=folder, out=out, runtime=runtime, **kwargs)
        check_written(out)
        return results, out

    return run


def check_written(out: Path) -> dict:
    """Every results.json the tests produce must validate against the schema."""
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    validate(data)
    assert (out / "report.md").is_file()
    return data


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    """A fresh copy of the unmodified template."""
    return Path(shutil.copytree(TEMPLATE_DIR, tmp_path / "template-copy"))


@pytest.fixture
def github_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """The GitHub-shaped server on 127.0.0.1 (tests/fakegithub/), behaving as github.com does
    for templates: a generated repository starts with a fresh commit of its own."""
    bypass_proxies(monkeypatch)
    with FakeGitHub(tmp_path / "fakegithub", template_history="fresh") as server:
        yield server
    if server.errors:
        pytest.fail("fake GitHub server raised:\n" + "\n".join(server.errors))


# A session time zone far from UTC: stored times must come back as the same UTC moments.
PG_SERVER_TIMEZONE = "Asia/Kolkata"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    """A throwaway PostgreSQL server (tests/pgserver.py) for the session. As root it must
    start (`make test` installs the server): a failure fails. Only without root and without
    the server binaries is it skipped, saying so."""
    try:
        server = PgServer.start(timezone=PG_SERVER_TIMEZONE)
    except Unavailable as exc:
        if os.geteuid() == 0:
            pytest.fail(f"running as root, yet no PostgreSQL server can be started: {exc}")
        pytest.skip(f"PostgreSQL tests need the server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database's URL, once on SQLite and once on PostgreSQL (a database of its
    own on the session's server). Every engine that connected to it is disposed afterwards,
    so no connection outlives the test."""
    engines: list[Engine] = []

    def seen(connection) -> None:  # noqa: ANN001 - a Connection
        if connection.engine not in engines:
            engines.append(connection.engine)

    server = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'board.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database()
    event.listen(Engine, "engine_connect", seen)
    try:
        yield url
    finally:
        event.remove(Engine, "engine_connect", seen)
        for engine in engines:
            engine.dispose()
        if server is not None:
            server.drop_database(url.rsplit("/", 1)[1])
