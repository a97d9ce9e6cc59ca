"""Sandbox users: one unprivileged uid per running child process, leased with a file lock.

rlimits on processes count per real uid, so each concurrently running child gets a uid of its
own: a fork bomb in one child then exhausts only its own allowance. The uids have no account,
no home and no groups. A lease is an exclusive `flock` on `LOCK_DIR/UID`, so graders running
side by side on one machine never share a uid. A uid that any process runs under is skipped
(the range must be left to MLE Assess, but a skip costs nothing), and when a lease ends, every
process still running under its uid is killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from mle_assess.errors import SandboxError

FIRST_UID = 1_500_000
UID_COUNT = 64
LOCK_DIR = Path("/run/mle-assess/uids")


@contextlib.contextmanager
def lease(count: int) -> Iterator[list[int]]:
    """Hold `count` free sandbox uids for the duration of the block."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    held: list[tuple[int, int]] = []
    try:
        for uid in range(FIRST_UID, FIRST_UID + UID_COUNT):
            if len(held) == count:
                break
            fd = os.open(LOCK_DIR / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if processes_of(uid):  # in use outside MLE Assess, or a leftover: never ours now
                os.close(fd)
                continue
            held.append((uid, fd))
        if len(held) < count:
            raise SandboxError(
                f"all {UID_COUNT} sandbox uids from {FIRST_UID} are in use; "
                "wait for other gradings to finish"
            )
        yield [uid for uid, _ in held]
    finally:
        for uid, fd in held:
            kill_processes_of(uid)
            os.close(fd)


def processes_of(uid: int) -> list[int]:
    """Pids of every process whose real or effective uid is `uid`."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            status = Path(entry.path, "status").read_text()
            line = next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
            if str(uid) in line.split()[1:3]:
                pids.append(int(entry.name))
    return pids


def kill_processes_of(uid: int) -> None:
    for pid in processes_of(uid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
