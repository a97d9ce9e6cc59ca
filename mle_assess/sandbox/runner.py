"""The child runner: start one standalone entry script on the grading runtime, and contain it.

The child talks back over its standard output, one JSON document per line (a "message"); its
standard error is the log, which collects everything the candidate's code prints. The child
must send each message within `spec.timeout` seconds of the previous one (or of its start), so a
child that grades several levels in turn gives each level its own wall-clock budget. When a
budget runs out, or when the child is done, everything it started is killed.

Two isolation modes (SECURITY.md describes both):

- **full** (the grader runs as root): util-linux `unshare` makes new mount, pid, network, IPC
  and UTS namespaces; `init.py` builds a private root there, in which the child sees only the
  system's programs, the grading runtime, its read-only views and a private /tmp; each process
  runs under its own leased uid through `setpriv` (no capabilities, `no_new_privs`, no
  groups), with rlimits through `prlimit` and, where writable, its own memory and pids cgroup.
  Views appear at `/sandbox/NAME`, and the app's port is 5001.
- **reduced** (no root): a new session, rlimits through `prlimit`, a scrubbed environment, a
  private HOME and TMPDIR, and capped output. Views are the host folders themselves, and the
  port is a free one on the host's loopback.

Both modes take the same `ChildSpec`, in which "{NAME}" stands for the folder of view NAME and
"{port}" for the app's port.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from mle_assess.errors import MleAssessError, SandboxError
from mle_assess.runtime import base_homes, system_python
from mle_assess.sandbox import cgroups, uids
from mle_assess.sandbox.init import SYSTEM_DIRS
from scoring import Limits

FULL, REDUCED = "full", "reduced"
MODES = ("auto", FULL, REDUCED)
SANDBOX_PORT = 5001
SANDBOX_VIEWS = Path("/sandbox")
INIT_SCRIPT = Path(__file__).resolve().parent / "init.py"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # a level's message is about 200 KB
START_SECONDS = 15
PASS_THROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "TZ")
COMPANION_PID_ENV = "MLE_ASSESS_COMPANION_PID"
TOOLS = ("unshare", "setpriv", "prlimit", "pivot_root")


@dataclass(frozen=True)
class ChildSpec:
    """What to run, what it may see, and within which limits."""

    argv: list[str]
    views: dict[str, Path]
    cwd: str
    scratch: Path
    limits: Limits
    timeout: float
    isolation: str = REDUCED
    expected_messages: int = 1
    env: dict[str, str] = field(default_factory=dict)
    # A second process running candidate code (the app), started first under a uid of its
    # own; its output goes to the log. The main process learns its pid from COMPANION_PID_ENV.
    companion: list[str] | None = None
    # Views only the main process may read (the probe's requests, hidden from the app).
    private_views: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChildResult:
    """What came back: decoded messages, the capped log, and how the child ended."""

    messages: list[dict]
    log: str
    timed_out: bool
    returncode: int | None
    seconds: float
    isolation: str = REDUCED
    limits: str = "rlimits"
    malformed: bool = False


def available() -> tuple[bool, str]:
    """Whether full isolation can run here, and if not, why."""
    if os.geteuid() != 0:
        return False, "the grader is not running as root"
    missing = [tool for tool in TOOLS if not _tool(tool)]
    if missing:
        return False, f"util-linux tools missing: {', '.join(missing)}"
    if not Path("/proc/self/ns/net").exists():
        return False, "this kernel has no namespaces"
    return True, "root, with unshare, setpriv and prlimit"


def resolve(requested: str = "auto") -> str:
    """The mode to grade with: "full" when possible, else "reduced".

    "full" is required when asked for, and also by "auto" inside GitHub Actions
    (GITHUB_ACTIONS=true), where a silent fallback would put candidate code beside the job's
    environment; there only an explicit "reduced" grades without the sandbox."""
    if requested not in MODES:
        raise SandboxError(f"unknown isolation {requested!r}; choose one of {', '.join(MODES)}")
    if requested == REDUCED:
        return REDUCED
    ok, why = available()
    if ok:
        return FULL
    if requested == FULL:
        raise SandboxError(f"full isolation is unavailable: {why}")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        raise SandboxError(
            f"full isolation is unavailable in GitHub Actions: {why}; run the grader with sudo, "
            "or pass --isolation reduced to grade without the sandbox"
        )
    return REDUCED


def run_child(spec: ChildSpec) -> ChildResult:
    """Run the child to completion or to its deadline; never raises for the child's sake.

    Raises SandboxError only when the sandbox itself could not be set up.
    """
    spec.scratch.mkdir(parents=True, exist_ok=True)
    if spec.isolation == FULL:
        return _run_full(spec)
    return _run_reduced(spec)


# --- reduced ----------------------------------------------------------------------------------


def _run_reduced(spec: ChildSpec) -> ChildResult:
    names = {name: str(path) for name, path in spec.views.items()}
    names["port"] = str(_free_port())
    home = spec.scratch / "home"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = _child_env(spec, home=str(home), tmp=str(home / "tmp"))
    cwd = spec.cwd.format_map(names)
    started = time.monotonic()
    procs: list[subprocess.Popen] = []
    try:
        if spec.companion:
            procs.append(_popen_reduced(spec, spec.companion, names, cwd, env, log=True))
            env = {**env, COMPANION_PID_ENV: str(procs[0].pid)}
        main = _popen_reduced(spec, spec.argv, names, cwd, env, log=False)
        procs.append(main)
        streams = [main.stdout, main.stderr] + ([procs[0].stdout] if spec.companion else [])
        messages, log, timed_out, malformed = _collect(main.stdout, streams, spec)
    finally:
        for proc in procs:
            _kill_group(proc)
    return ChildResult(
        messages,
        log.decode("utf-8", "replace"),
        timed_out,
        main.returncode,
        round(time.monotonic() - started, 3),
        isolation=REDUCED,
        limits="rlimits",
        malformed=malformed,
    )


def _popen_reduced(spec, argv, names, cwd, env, *, log):
    """One process in a session and process group of its own."""
    return subprocess.Popen(
        _rlimits(spec, nproc=False) + [a.format_map(names) for a in argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if log else subprocess.PIPE,
        start_new_session=True,
    )


def _free_port() -> int:
    """A port free on the host's loopback now (reduced isolation shares its network)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- full -------------------------------------------------------------------------------------


def _run_full(spec: ChildSpec) -> ChildResult:
    names = {name: str(SANDBOX_VIEWS / name) for name in spec.views}
    names["port"] = str(SANDBOX_PORT)
    wanted = 2 if spec.companion else 1
    started = time.monotonic()
    with uids.lease(wanted) as leased:
        main_uid, companion_uid = leased[0], leased[-1]
        _open_views(spec, main_uid)
        group = cgroups.create(
            f"mle-assess-{os.getpid()}-{secrets.token_hex(4)}",
            memory_bytes=spec.limits.memory_mb * 1024 * 1024 * wanted,
            pids=spec.limits.processes * wanted + 8,
        )
        try:
            proc, result = _launch(spec, names, leased, main_uid, companion_uid, group)
        finally:
            cgroups.destroy(group)
    limits = "rlimits" if group.mechanism == "none" else f"rlimits+{group.mechanism}"
    messages, log, timed_out, malformed = result
    return ChildResult(
        messages,
        log.decode("utf-8", "replace"),
        timed_out,
        proc.returncode,
        round(time.monotonic() - started, 3),
        isolation=FULL,
        limits=limits,
        malformed=malformed,
    )


def _launch(spec, names, leased, main_uid, companion_uid, group):
    env = _child_env(spec, home="/tmp", tmp="/tmp")
    cwd = spec.cwd.format_map(names)
    processes = []
    if spec.companion:
        processes.append(
            {
                "argv": _as_user(spec, companion_uid, spec.companion, names),
                "cwd": cwd,
                "env": env,
                "channel": False,
                "pid_env": None,
            }
        )
    processes.append(
        {
            "argv": _as_user(spec, main_uid, spec.argv, names),
            "cwd": cwd,
            "env": env,
            "channel": True,
            "pid_env": COMPANION_PID_ENV if spec.companion else None,
        }
    )
    plan = {
        "root": str(_mountpoint(spec.scratch)),
        "views": {name: str(path) for name, path in spec.views.items()},
        "keep": visible_runtime(Path(spec.argv[0])),
        "tmp_mb": spec.limits.tmp_mb,
        "cgroup_procs": group.procs,
        "passwd": _passwd(leased),
        "pivot_root": _tool("pivot_root"),
        "uids": leased,
        "processes": processes,
    }
    ready_r, ready_w = os.pipe()
    plan["ready_fd"] = ready_w
    argv = [
        # If the grader dies, `unshare` dies with it, and so does the whole sandbox.
        _tool("setpriv"),
        "--pdeathsig=KILL",
        "--",
        _tool("unshare"),
        "--mount",
        "--pid",
        "--net",
        "--ipc",
        "--uts",
        "--fork",
        "--kill-child",
        "--",
        system_python(),
        "-I",
        "-S",
        str(INIT_SCRIPT),
    ]
    try:
        proc = subprocess.Popen(
            argv,
            cwd="/",
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(ready_w,),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(ready_r)
        raise SandboxError(f"the sandbox did not start: {exc}") from exc
    finally:
        os.close(ready_w)
    try:
        try:
            proc.stdin.write(json.dumps(plan).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # init died at once; its log says why, below
        if not _wait_ready(ready_r):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            log = proc.stderr.read(64 * 1024).decode("utf-8", "replace")
            raise SandboxError(f"the sandbox did not start: {log.strip()[-2000:] or 'no output'}")
        result = _collect(proc.stdout, [proc.stdout, proc.stderr], spec)
    finally:
        os.close(ready_r)
        _kill_group(proc)
    return proc, result


def visible_runtime(python: Path) -> list[str]:
    """What the sandbox shows, read-only, for `python` (a runtime's bin/python3) to start: the
    runtime's folder, and its base interpreter's prefix unless the system folders hold it.

    A virtual environment's python is a link to its base interpreter, which keeps the standard
    library; on a GitHub runner that base is setup-python's, under /opt/hostedtoolcache, which
    the private root would otherwise lack. Folders are listed outermost first and none inside
    another, so that no mount hides an earlier one.
    """
    root = python.parent.parent
    shown = [root]
    try:
        homes = base_homes(root)
    except MleAssessError as exc:
        raise SandboxError(f"the sandbox cannot show the grading runtime: {exc}") from exc
    for home in homes:
        if len(home.parts) > 1 and home.parts[1] in SYSTEM_DIRS:
            continue  # shown already, and Python finds its library there too
        prefix = home.parent
        # The whole prefix becomes visible to candidate code: never "/" nor a top folder.
        if len(prefix.parts) < 3:
            raise SandboxError(
                f"the grading runtime's base interpreter lives in {home}: its prefix {prefix} is "
                "too wide to show to candidate code; build the runtime from a Python installed "
                "in a folder of its own (e.g. /opt/python3.11/bin/python3.11)"
            )
        shown.append(prefix)
    kept: list[Path] = []
    for path in sorted(set(shown), key=lambda p: (len(p.parts), str(p))):
        if not any(path == k or k in path.parents for k in kept):
            kept.append(path)
    return [str(path) for path in kept]


def _wait_ready(fd: int) -> bool:
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        if not sel.select(timeout=START_SECONDS):
            return False
    try:
        return os.read(fd, 16).startswith(b"ready")
    except OSError:
        return False


def _mountpoint(scratch: Path) -> Path:
    root = scratch / "root"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def _open_views(spec: ChildSpec, owner: int) -> None:
    """Shared views readable by every sandbox user; private ones by the main uid alone."""
    for name, path in spec.views.items():
        private = name in spec.private_views
        for dirpath, _, filenames in os.walk(path):  # never follows a link to a folder
            if private:
                os.chown(dirpath, owner, -1)
            os.chmod(dirpath, 0o500 if private else 0o755)
            for filename in filenames:
                file = os.path.join(dirpath, filename)
                if os.path.islink(file):
                    continue  # views hold regular files only; a link is never followed
                if private:
                    os.chown(file, owner, -1)
                os.chmod(file, 0o400 if private else 0o644)


def _as_user(spec: ChildSpec, uid: int, argv: list[str], names: dict[str, str]) -> list[str]:
    """argv run with rlimits, then as `uid` with no groups, capabilities or new privileges."""
    return [
        *_rlimits(spec, nproc=True),
        _tool("setpriv"),
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--no-new-privs",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
        *(a.format_map(names) for a in argv),
    ]


def _passwd(leased: list[int]) -> str:
    lines = ["root:x:0:0:root:/nonexistent:/usr/sbin/nologin"]
    lines += [f"sandbox{i}:x:{uid}:{uid}::/tmp:/usr/sbin/nologin" for i, uid in enumerate(leased)]
    return "\n".join(lines) + "\n"


def _tool(name: str) -> str | None:
    return shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


# --- shared -----------------------------------------------------------------------------------


def _collect(channel, streams, spec: ChildSpec) -> tuple[list[dict], bytes, bool, bool]:
    """Read messages from `channel` and the log from the other streams, until the expected
    messages came, every stream closed, or a message's deadline passed."""
    log_cap = spec.limits.log_kb * 1024
    out, log = bytearray(), bytearray()
    messages: list[dict] = []
    malformed = False
    deadline = time.monotonic() + spec.timeout
    with selectors.DefaultSelector() as sel:
        for stream in streams:
            sel.register(stream, selectors.EVENT_READ, stream is channel)
        while sel.get_map() and len(messages) < spec.expected_messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return messages, bytes(log), True, malformed
            for key, _ in sel.select(timeout=min(remaining, 0.5)):
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif not key.data:
                    log += chunk[: max(0, log_cap - len(log))]
                else:
                    out += chunk
                    if b"\n" not in chunk:  # no message ended: do not re-split the buffer
                        if len(out) > MAX_MESSAGE_BYTES:
                            return messages, bytes(log), False, True
                        continue
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
    """Kill the process group, so nothing started outlives it (in full isolation, killing
    `unshare` also ends process 1 of the sandbox, and with it the whole pid namespace)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            with contextlib.suppress(OSError):
                stream.close()


def _rlimits(spec: ChildSpec, *, nproc: bool) -> list[str]:
    """util-linux prlimit with the child's limits. Processes are counted per uid, so that
    limit is set only where the child has a uid of its own."""
    prlimit = _tool("prlimit")
    if not prlimit:
        return []
    lim = spec.limits
    cpu = int(spec.timeout * spec.expected_messages) + 5
    return [
        prlimit,
        f"--as={lim.memory_mb * 1024 * 1024}",
        f"--cpu={cpu}",
        f"--fsize={lim.file_size_mb * 1024 * 1024}",
        f"--nofile={lim.open_files}",
        "--core=0",
        *([f"--nproc={lim.processes}"] if nproc else []),
        "--",
    ]


def _child_env(spec: ChildSpec, *, home: str, tmp: str) -> dict[str, str]:
    """Only what a Python program needs: no tokens, no CI variables, no grader paths."""
    env = {k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ}
    env.update(
        {
            "PATH": f"{Path(spec.argv[0]).parent}:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": tmp,
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
