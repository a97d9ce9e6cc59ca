"""A throwaway PostgreSQL server for the test session (and `bench/board.py`).

Debian's server binaries (`/usr/lib/postgresql/*/bin`, the newest version) run in a fresh
temporary folder: listening on 127.0.0.1 only, on a free port, and on a Unix socket in that
folder; trust authentication (nothing but loopback reaches it); durability switched off for
speed. PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user (or
`nobody`), with `setpriv`.

The database cluster is created with ICU's en-US collation where the server has ICU (as a
production database usually has a language's collation, not "C"), so tests see what a real
deployment sorts and case-folds like. Sessions are in UTC unless asked otherwise.

    server = PgServer.start()
    url = server.create_database("t_1")  # postgresql+psycopg://postgres@127.0.0.1:PORT/t_1
    ...
    server.stop()

`Unavailable` says why there is no server (no binaries, or no user to run it as).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
RUN_AS = ("postgres", "nobody")  # as root: the first of these system users that exists


class Unavailable(Exception):
    """No PostgreSQL server can be started here; `missing_binary` tells which case."""

    def __init__(self, message: str, *, missing_binary: bool) -> None:
        super().__init__(message)
        self.missing_binary = missing_binary


def find_bindir() -> Path | None:
    """The newest installed server's bin folder (by major version), or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")

    def version(path: str) -> tuple[int, ...]:
        digits = re.findall(r"\d+", Path(path).parent.parent.name)
        return tuple(int(d) for d in digits) or (0,)

    return Path(max(found, key=version)).parent if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_as() -> tuple[list[str], int | None, int | None]:
    """The command prefix that drops root, and the uid and gid (None when not root)."""
    if os.geteuid() != 0:
        return [], None, None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise Unavailable(
            "running as root, and setpriv (util-linux) is missing", missing_binary=True
        )
    for name in RUN_AS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        prefix = [setpriv, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
        return prefix, entry.pw_uid, entry.pw_gid
    # initdb looks its user up by uid: an unused uid without a passwd entry is refused.
    raise Unavailable(
        f"running as root, and none of the users {', '.join(RUN_AS)} exists to run PostgreSQL as",
        missing_binary=False,
    )


@dataclass
class PgServer:
    """A running throwaway server."""

    bindir: Path
    root: Path
    port: int
    process: subprocess.Popen
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    _counter: int = field(default=0, repr=False)

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` (psycopg 3)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        """A libpq connection string for a raw psycopg connection."""
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"

    def admin(self):  # noqa: ANN201 - psycopg.Connection
        """An autocommit connection to the `postgres` database (CREATE/DROP DATABASE)."""
        import psycopg

        return psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=10)

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; its URL."""
        if name is None:
            self._counter += 1
            name = f"t_{self._counter}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop `name`, closing any connection still open to it."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    @classmethod
    def start(cls, *, timezone: str = "UTC", timeout: float = START_TIMEOUT) -> PgServer:
        """Create a cluster in a fresh temporary folder and start the server on it."""
        bindir = find_bindir()
        if bindir is None:
            raise Unavailable(
                "no PostgreSQL server in /usr/lib/postgresql/*/bin "
                "(as root: apt-get install postgresql; `make test` does it)",
                missing_binary=True,
            )
        prefix, uid, gid = _run_as()
        root = Path(tempfile.mkdtemp(prefix="mle-assess-pg-"))
        try:
            if uid is not None:
                os.chown(root, uid, gid)
            return cls._start_in(bindir, root, prefix, timezone, timeout)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    @classmethod
    def _start_in(
        cls, bindir: Path, root: Path, prefix: list[str], timezone: str, timeout: float
    ) -> PgServer:
        data = root / "data"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "TZ": "UTC"}
        initdb = [
            *prefix,
            str(bindir / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            SUPERUSER,
            "--auth=trust",  # loopback and the private socket only; a throwaway server
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
        if _has_icu(bindir):
            initdb += ["--locale-provider=icu", "--icu-locale=en-US"]
        done = subprocess.run(
            initdb, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        for attempt in range(3):
            port = free_port()
            log = open(root / "server.log", "ab")  # noqa: SIM115 - handed to the child
            try:
                process = subprocess.Popen(
                    [
                        *prefix,
                        str(bindir / "postgres"),
                        "-D",
                        str(data),
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-k",
                        str(root),
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                        "-c",
                        f"timezone={timezone}",
                        "-c",
                        "max_connections=200",
                        "-c",
                        "shared_buffers=64MB",
                    ],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                log.close()
            server = cls(bindir=bindir, root=root, port=port, process=process)
            if server._wait_ready(timeout):
                return server
            server._halt()
            if attempt < 2 and "already in use" in server.log_tail():
                continue  # somebody took the port in between: try another
            raise RuntimeError(
                f"PostgreSQL did not accept connections on 127.0.0.1:{port} within "
                f"{timeout:.0f} s; its log:\n{server.log_tail()}"
            )
        raise AssertionError("unreachable")

    def _wait_ready(self, timeout: float) -> bool:
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    def _halt(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL if it does not go in time."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        try:
            self._halt()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _has_icu(bindir: Path) -> bool:
    pg_config = bindir / "pg_config"
    try:
        configure = subprocess.run(
            [str(pg_config), "--configure"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--with-icu" in configure
