"""The child runner contains its child, in both isolation modes: deadline, kill of all it
started, scrubbed environment, capped log, and messages only from the child's own channel."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from mle_assess.sandbox import FULL, REDUCED, ChildSpec, run_child
from scoring import load_config

LIMITS = load_config().limits


@pytest.fixture(params=[REDUCED, FULL])
def mode(request):
    """Each test runs in both modes; full needs root (see conftest.full_isolation)."""
    return request.getfixturevalue("full_isolation") if request.param == FULL else REDUCED


def _run(runtime, tmp_path, code, timeout=5.0, messages=1, mode=REDUCED):
    code_dir = tmp_path / "code"
    code_dir.mkdir(exist_ok=True)
    (code_dir / "child.py").write_text(code)
    return run_child(
        ChildSpec(
            argv=[str(runtime.python), "-I", "{code}/child.py"],
            views={"code": code_dir},
            cwd="{code}",
            scratch=tmp_path / "scratch",
            limits=LIMITS,
            timeout=timeout,
            isolation=mode,
            expected_messages=messages,
        )
    )


def test_messages_come_back_one_per_line(runtime, tmp_path, mode):
    result = _run(
        runtime, tmp_path, "print('{\"a\": 1}')\nprint('not json')\nprint('{\"b\": 2}')", messages=2
    )
    assert result.messages == [{"a": 1}, {"b": 2}] and result.malformed


def test_environment_is_scrubbed(runtime, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_fake_token_for_the_test")
    monkeypatch.setenv("CI", "true")
    result = _run(
        runtime, tmp_path, "import json, os; print(json.dumps(dict(os.environ)))", mode=mode
    )
    env = result.messages[0]
    assert "GITHUB_TOKEN" not in env and "CI" not in env
    assert "ghs_fake_token_for_the_test" not in json.dumps(env)
    assert env["HOME"] == ("/tmp" if mode == FULL else str(tmp_path / "scratch" / "home"))


def test_deadline_kills_everything_the_child_started(runtime, tmp_path, mode):
    marker = f"mle-assess-leftover-{tmp_path.name}"
    code = (
        "import os, subprocess, sys, time\n"
        "for detach in (False, True):\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', "
        f"{marker!r}], start_new_session=detach)\n"
        "time.sleep(600)\n"
    )
    started = time.monotonic()
    result = _run(runtime, tmp_path, code, timeout=2, mode=mode)
    assert result.timed_out and time.monotonic() - started < 5
    time.sleep(0.2)
    survivors = _with_marker(marker)
    if mode == FULL:
        assert survivors == []
    else:  # without a pid namespace, a process in a session of its own is out of reach
        assert len(survivors) <= 1
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)


def _with_marker(marker: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
                if marker in cmdline and _alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_each_message_gets_its_own_budget(runtime, tmp_path, mode):
    code = "import time\nfor i in range(3):\n    time.sleep(0.8)\n    print('{}', flush=True)\n"
    result = _run(runtime, tmp_path, code, timeout=1.5, messages=3, mode=mode)
    assert not result.timed_out and len(result.messages) == 3


def test_log_is_capped(runtime, tmp_path, mode):
    result = _run(
        runtime, tmp_path, "import sys\nsys.stderr.write('x' * 10_000_000)\nprint('{}')", mode=mode
    )
    assert len(result.log.encode()) == LIMITS.log_kb * 1024
    assert result.messages == [{}]


def test_memory_limit_applies(runtime, tmp_path, mode):
    size = (LIMITS.memory_mb + 512) * 1024 * 1024
    code = (
        f"import json\ntry:\n    b = bytearray({size})\n    print(json.dumps({{'got': True}}))\n"
        "except MemoryError:\n    print(json.dumps({'got': False}))\n"
    )
    assert _run(runtime, tmp_path, code, mode=mode).messages == [{"got": False}]
