"""The child runner: start one standalone entry script on the grading runtime, and contain it.

The child talks back over its standard output, one JSON document per line (a "message"); its
standard error is the log, which collects everything the candidate's code prints. The child
must send each message within `spec.timeout` seconds of the previous one (or of its start), so a
child that grades several levels in turn gives each level its own wall-clock budget. When a
budget runs out, or when the child is done, its whole process group is killed.

Isolation here is "reduced": a new session and process group, rlimits set through util-linux
`prlimit`, a scrubbed environment, a private HOME and TMPDIR, and capped output.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from scoring import Limits

ISOLATION = "reduced"
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
PASS_THROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "TZ")


@dataclass(frozen=True)
class ChildSpec:
    """What to run, where, and within which limits."""

    argv: list[str]
    cwd: Path
    home: Path
    limits: Limits
    timeout: float
    expected_messages: int = 1
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChildResult:
    """What came back: decoded messages, the capped log, and how the child ended."""

    messages: list[dict]
    log: str
    timed_out: bool
    returncode: int | None
    seconds: float
    isolation: str = ISOLATION
    malformed: bool = False


def run_child(spec: ChildSpec) -> ChildResult:
    """Run the child to completion or to its deadline; never raises for the child's sake."""
    started = time.monotonic()
    proc = subprocess.Popen(
        _with_limits(spec),
        cwd=spec.cwd,
        env=_scrubbed_env(spec),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        messages, log, timed_out, malformed = _collect(proc, spec)
    finally:
        _kill_group(proc)
    return ChildResult(
        messages,
        log.decode("utf-8", "replace"),
        timed_out,
        proc.returncode,
        round(time.monotonic() - started, 3),
        malformed=malformed,
    )


def _collect(proc: subprocess.Popen, spec: ChildSpec) -> tuple[list[dict], bytes, bool, bool]:
    log_cap = spec.limits.log_kb * 1024
    out, log = bytearray(), bytearray()
    messages: list[dict] = []
    malformed = False
    deadline = time.monotonic() + spec.timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "log")
        while sel.get_map() and len(messages) < spec.expected_messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return messages, bytes(log), True, malformed
            for key, _ in sel.select(timeout=min(remaining, 0.5)):
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.data == "log":
                    log += chunk[: max(0, log_cap - len(log))]
                else:
                    out += chunk
                    lines, out = _split_lines(out)
                    for line in lines:
                        decoded = _decode(line)
                        malformed |= decoded is None
                        if decoded is not None:
                            messages.append(decoded)
                            deadline = time.monotonic() + spec.timeout
                    if len(out) > MAX_MESSAGE_BYTES:
                        return messages, bytes(log), False, True
    return messages, bytes(log), False, malformed


def _split_lines(buf: bytearray) -> tuple[list[bytes], bytearray]:
    *lines, rest = bytes(buf).split(b"\n")
    return [ln for ln in lines if ln.strip()], bytearray(rest)


def _decode(line: bytes) -> dict | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child's process group, so nothing it started outlives it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def _with_limits(spec: ChildSpec) -> list[str]:
    """Prefix the command with util-linux prlimit, when it exists."""
    prlimit = shutil.which("prlimit")
    if not prlimit:
        return spec.argv
    lim = spec.limits
    cpu = int(spec.timeout * spec.expected_messages) + 5
    return [
        prlimit,
        f"--as={lim.memory_mb * 1024 * 1024}",
        f"--cpu={cpu}",
        f"--fsize={lim.file_size_mb * 1024 * 1024}",
        f"--nofile={lim.open_files}",
        "--core=0",
        "--",
        *spec.argv,
    ]


def _scrubbed_env(spec: ChildSpec) -> dict[str, str]:
    """Only what a Python program needs: no tokens, no CI variables, no grader paths."""
    env = {k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ}
    tmp = spec.home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "PATH": f"{Path(spec.argv[0]).parent}:/usr/bin:/bin",
            "HOME": str(spec.home),
            "TMPDIR": str(tmp),
            "LANG": env.get("LANG", "C.UTF-8"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    )
    env.update(spec.env)
    return env
