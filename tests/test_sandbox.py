"""Full isolation, probed from inside: what a sandboxed child can see, reach and do.

Each test runs a small child through the real runner as root and reads back what it found.
Without root these tests skip (conftest.full_isolation); as root they fail if full isolation
is unavailable.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from mle_assess import PROJECT_ROOT
from mle_assess.errors import SandboxError
from mle_assess.sandbox import COMPANION_PID_ENV, FULL, ChildSpec, resolve, run_child, uids
from scoring import load_config

LIMITS = load_config().limits


def run(runtime, tmp_path, code, *, companion=None, timeout=20.0, private=(), extra_views=None):
    code_dir = tmp_path / "code"
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / "child.py").write_text(code)
    views = {"code": code_dir, **(extra_views or {})}
    if companion:
        (code_dir / "companion.py").write_text(companion)
    return run_child(
        ChildSpec(
            argv=[str(runtime.python), "-I", "{code}/child.py"],
            companion=[str(runtime.python), "{code}/companion.py"] if companion else None,
            views=views,
            private_views=frozenset(private),
            cwd="{code}",
            scratch=tmp_path / "scratch",
            limits=LIMITS,
            timeout=timeout,
            isolation=FULL,
        )
    )


def report(runtime, tmp_path, code, **kwargs) -> dict:
    """Run `code`, which must print one JSON object as its last act; return it."""
    result = run(runtime, tmp_path, code, **kwargs)
    assert result.isolation == FULL
    assert result.messages, result.log
    return result.messages[0]


IDENTITY = """
import json, os
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "pid": os.getpid(), "nnp": status["NoNewPrivs"].strip(), "capeff": status["CapEff"].strip(),
    "capbnd": status["CapBnd"].strip(), "pids": sorted(int(p) for p in os.listdir("/proc")
    if p.isdigit()), "hostname": os.uname().nodename,
}))
"""


def test_child_is_an_unprivileged_sandbox_user(runtime, tmp_path, full_isolation):
    seen = report(runtime, tmp_path, IDENTITY)
    assert uids.FIRST_UID <= seen["uid"] < uids.FIRST_UID + uids.UID_COUNT
    assert seen["euid"] == seen["uid"] == seen["gid"]
    assert seen["groups"] == []
    assert seen["nnp"] == "1"
    assert int(seen["capeff"], 16) == 0 and int(seen["capbnd"], 16) == 0
    assert seen["hostname"] == "sandbox"


def test_child_has_its_own_pid_namespace(runtime, tmp_path, full_isolation):
    seen = report(runtime, tmp_path, IDENTITY)
    # Only the sandbox's own processes exist, and other users' are hidden: itself alone.
    assert seen["pids"] == [seen["pid"]]
    assert seen["pid"] < 10


def test_filesystem_shows_only_the_views_runtime_and_system(runtime, tmp_path, full_isolation):
    secret = tmp_path / "grader-secret.txt"
    secret.write_text("not for candidates")
    probes = {
        "repo": str(PROJECT_ROOT),
        "hidden": str(PROJECT_ROOT / "hidden_tests"),
        "secret": str(secret),
        "root_home": "/root",
        "home": "/home",
        "work": "/work",
        "host_tmp_entries": "/tmp",
    }
    code = f"""
import json, os
probes = {probes!r}
seen = {{k: os.path.exists(v) for k, v in probes.items()}}
seen["host_tmp_entries"] = os.listdir("/tmp")
seen["top"] = sorted(os.listdir("/"))
seen["sandbox"] = sorted(os.listdir("/sandbox"))
seen["runtime"] = os.path.exists({str(runtime.python)!r})
print(json.dumps(seen))
"""
    seen = report(runtime, tmp_path, code)
    assert not any(seen[k] for k in ("repo", "hidden", "secret", "root_home", "home", "work"))
    assert seen["host_tmp_entries"] == []
    assert seen["sandbox"] == ["code"] and seen["runtime"]
    assert set(seen["top"]) <= {
        "bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "sandbox",
        "sbin", "tmp", "usr",
    }  # fmt: skip


def test_views_are_read_only_and_tmp_is_private_and_capped(runtime, tmp_path, full_isolation):
    code = """
import errno, json, os
seen = {}
try:
    open("/sandbox/code/new.txt", "w")
    seen["view_write"] = "allowed"
except OSError as exc:
    seen["view_write"] = errno.errorcode[exc.errno]
try:
    open("/usr/bin/planted", "w")
    seen["usr_write"] = "allowed"
except OSError as exc:
    seen["usr_write"] = errno.errorcode[exc.errno]
written = 0
try:
    for i in range(40):  # 40 x 60 MB: far past the /tmp cap, each file under the size limit
        with open(f"/tmp/fill-{i}", "wb") as handle:
            handle.write(b"x" * (60 * 1024 * 1024))
        written += 60
except OSError as exc:
    seen["tmp_full"] = errno.errorcode[exc.errno]
seen["tmp_mb"] = written
print(json.dumps(seen))
"""
    seen = report(runtime, tmp_path, code, timeout=60)
    assert seen["view_write"] == "EROFS" and seen["usr_write"] == "EROFS"
    assert seen["tmp_full"] == "ENOSPC" and seen["tmp_mb"] <= LIMITS.tmp_mb
    assert not (tmp_path / "code" / "new.txt").exists()


def test_file_size_limit_stops_a_huge_file(runtime, tmp_path, full_isolation):
    code = """
import json, os, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
try:
    with open("/tmp/huge", "wb") as handle:
        for _ in range(1024):
            handle.write(b"x" * 1024 * 1024)
    print(json.dumps({"error": None}))
except OSError as exc:
    print(json.dumps({"error": exc.strerror, "size": os.path.getsize("/tmp/huge")}))
"""
    seen = report(runtime, tmp_path, code)
    assert seen["error"] and seen["size"] <= LIMITS.file_size_mb * 1024 * 1024


def test_network_reaches_only_the_sandbox_loopback(runtime, tmp_path, full_isolation):
    """A listener on the host's 127.0.0.1 gets nothing; inside, loopback works."""
    received: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                received.append(conn.recv(1024) or b"(connected)")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    code = f"""
import json, os, socket
seen = {{}}
try:
    with socket.create_connection(("127.0.0.1", {port}), timeout=2) as conn:
        conn.sendall(b"exfiltrated")
    seen["host"] = "connected"
except OSError as exc:
    seen["host"] = type(exc).__name__
inside = socket.create_server(("127.0.0.1", 0))
with socket.create_connection(inside.getsockname(), timeout=2):
    seen["inside"] = "connected"
print(json.dumps(seen))
"""
    try:
        seen = report(runtime, tmp_path, code)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert seen["host"] == "ConnectionRefusedError" and seen["inside"] == "connected"
    assert received == []


def test_environment_holds_no_grader_secret(runtime, tmp_path, full_isolation, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_FAKE-sandbox-token")
    code = """
import json, os
found = {"env": dict(os.environ)}
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            found[pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
        except OSError as exc:
            found[pid] = type(exc).__name__
print(json.dumps(found))
"""
    seen = report(runtime, tmp_path, code)
    assert "ghs_FAKE-sandbox-token" not in json.dumps(seen)
    assert "GITHUB_TOKEN" not in seen["env"] and seen["env"]["HOME"] == "/tmp"


def test_companion_runs_as_another_user_and_cannot_read_private_views(
    runtime, tmp_path, full_isolation
):
    """The app (companion) and the probe (main) are different users: the app cannot read the
    probe's private inputs, see its process, or signal it."""
    private = tmp_path / "private"
    private.mkdir()
    (private / "requests.json").write_text("hidden requests")
    companion = """
import json, os, time
seen = {"uid": os.getuid(), "pids": [p for p in os.listdir("/proc") if p.isdigit()]}
try:
    seen["read"] = open("/sandbox/private/requests.json").read()
except OSError as exc:
    seen["read"] = type(exc).__name__
with open("/tmp/companion.json", "w") as handle:
    json.dump(seen, handle)
time.sleep(60)
"""
    code = f"""
import json, os, signal, time
companion = int(os.environ[{COMPANION_PID_ENV!r}])
for _ in range(200):
    if os.path.exists("/tmp/companion.json"):
        break
    time.sleep(0.05)
time.sleep(0.1)
seen = json.load(open("/tmp/companion.json"))
seen["probe_uid"] = os.getuid()
seen["probe_pid"] = os.getpid()
seen["probe_read"] = open("/sandbox/private/requests.json").read()
try:
    os.kill(companion, signal.SIGKILL)
    seen["probe_kill"] = "allowed"
except OSError as exc:
    seen["probe_kill"] = type(exc).__name__
print(json.dumps(seen))
"""
    seen = report(
        runtime, tmp_path, code, companion=companion, private=["private"],
        extra_views={"private": private},
    )  # fmt: skip
    assert seen["uid"] != seen["probe_uid"]
    assert seen["read"] == "PermissionError" and seen["probe_read"] == "hidden requests"
    assert str(seen["probe_pid"]) not in seen["pids"]
    assert seen["probe_kill"] == "PermissionError"


def test_fork_bomb_is_bounded_by_the_process_limit(runtime, tmp_path, full_isolation):
    code = """
import json, os, time
children = 0
try:
    for _ in range(5000):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as exc:
    print(json.dumps({"children": children, "error": type(exc).__name__, "uid": os.getuid()}),
          flush=True)
    os._exit(0)
print(json.dumps({"children": children, "error": None}), flush=True)
"""
    result = run(runtime, tmp_path, code)
    seen = result.messages[0]
    assert seen["error"] == "BlockingIOError" and seen["children"] < LIMITS.processes
    assert result.limits == expected_mechanism()
    assert uids.processes_of(seen["uid"]) == []  # the bomb's sleeping children are all gone


def expected_mechanism() -> str:
    """What a root grader must get on this machine: cgroups v2 or v1 (both are writable by
    root on the machines this project supports), on top of rlimits."""
    if Path("/sys/fs/cgroup/cgroup.controllers").is_file():
        return "rlimits+cgroup-v2"
    return "rlimits+cgroup-v1"


def test_cgroups_are_made_and_removed(runtime, tmp_path, full_isolation):
    code = """
import json
print(json.dumps({"cgroup": open("/proc/self/cgroup").read()}))
"""
    result = run(runtime, tmp_path, code)
    assert result.limits == expected_mechanism()
    assert "mle-assess-" in result.messages[0]["cgroup"]
    leftovers = [
        path
        for path in Path("/sys/fs/cgroup").rglob("mle-assess-*")
        if path.is_dir() and f"mle-assess-{os.getpid()}-" in path.name
    ]
    assert leftovers == []


def test_a_sandbox_that_cannot_start_raises(runtime, tmp_path, full_isolation):
    with pytest.raises(SandboxError, match="did not start"):
        run(runtime, tmp_path, "print('{}')", extra_views={"gone": tmp_path / "missing"})


def test_a_process_that_cannot_start_in_the_sandbox_raises(runtime, tmp_path, full_isolation):
    """The sandbox reports ready only once every process started; a failure before that is
    the grader's problem, never a zero for the candidate."""
    (tmp_path / "code").mkdir()
    spec = ChildSpec(
        argv=[str(runtime.python), "-I", "{code}/child.py"],
        views={"code": tmp_path / "code"},
        cwd="{code}/no-such-folder",
        scratch=tmp_path / "scratch",
        limits=LIMITS,
        timeout=10,
        isolation=FULL,
    )
    with pytest.raises(SandboxError, match="did not start"):
        run_child(spec)


def test_full_is_refused_without_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert resolve("auto") == "reduced"
    with pytest.raises(SandboxError, match="not running as root"):
        resolve("full")
    with pytest.raises(SandboxError, match="unknown isolation"):
        resolve("partial")


def test_no_set_uid_program_can_raise_privileges(runtime, tmp_path, full_isolation):
    """Every mount that can hold programs is `nosuid`, on top of `no_new_privs`, so `sudo`,
    `su` or `mount` run as the sandbox user."""
    code = """
import json, subprocess
mounts = {}
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    mounts[fields[4]] = fields[5].split(",")
sudo = subprocess.run(["su", "-c", "id -u"], capture_output=True, text=True)
print(json.dumps({"mounts": mounts, "su": [sudo.returncode, sudo.stdout]}))
"""
    seen = report(runtime, tmp_path, code)
    device_nodes = {f"/dev/{name}" for name in ("null", "zero", "full", "random", "urandom")}
    for point, options in seen["mounts"].items():
        if point not in device_nodes:
            assert "nosuid" in options, (point, options)
    assert seen["su"][0] != 0 and seen["su"][1].strip() != "0"


ADD_KEY = {"x86_64": 248, "aarch64": 217}


def test_keyrings_do_not_carry_over_between_gradings(runtime, tmp_path, full_isolation):
    """Kernel keyrings belong to a uid and outlive its processes; a key stored by one grading
    must be gone when the next grading leases the same uid."""
    number = ADD_KEY.get(os.uname().machine)
    if number is None:
        pytest.fail(f"no add_key system call number known for {os.uname().machine}")
    plant = f"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall({number}, b"user", b"mle-assess-planted", b"from an earlier grading", 23, -4)
print(json.dumps({{"uid": os.getuid(), "key": key, "keys": open("/proc/keys").read()}}))
"""
    look = """
import json, os
print(json.dumps({"uid": os.getuid(), "keys": open("/proc/keys").read()}))
"""
    planted = report(runtime, tmp_path / "first", plant)
    later = report(runtime, tmp_path / "second", look)
    assert planted["key"] > 0 and "mle-assess-planted" in planted["keys"]
    assert later["uid"] == planted["uid"]
    assert "mle-assess-planted" not in later["keys"]


def test_auto_never_falls_back_inside_github_actions(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(SandboxError, match="unavailable in GitHub Actions"):
        resolve("auto")
    assert resolve("reduced") == "reduced"
