"""The child runner contains its child: deadline, whole-group kill, scrubbed environment,
capped log, and messages only from the child's own channel."""

import json
import time

from mle_assess.sandbox import ChildSpec, run_child
from scoring import load_config

LIMITS = load_config().limits


def _run(runtime, tmp_path, code, timeout=5.0, messages=1):
    script = tmp_path / "child.py"
    script.write_text(code)
    return run_child(
        ChildSpec(
            argv=[str(runtime.python), "-I", str(script)],
            cwd=tmp_path,
            home=tmp_path / "home",
            limits=LIMITS,
            timeout=timeout,
            expected_messages=messages,
        )
    )


def test_messages_come_back_one_per_line(runtime, tmp_path):
    result = _run(
        runtime, tmp_path, "print('{\"a\": 1}')\nprint('not json')\nprint('{\"b\": 2}')", messages=2
    )
    assert result.messages == [{"a": 1}, {"b": 2}] and result.malformed


def test_environment_is_scrubbed(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_fake_token_for_the_test")
    monkeypatch.setenv("CI", "true")
    result = _run(runtime, tmp_path, "import json, os; print(json.dumps(dict(os.environ)))")
    env = result.messages[0]
    assert "GITHUB_TOKEN" not in env and "CI" not in env
    assert "ghs_fake_token_for_the_test" not in json.dumps(env)
    assert env["HOME"] == str(tmp_path / "home")


def test_deadline_kills_the_whole_group(runtime, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(600)\n"
    )
    started = time.monotonic()
    result = _run(runtime, tmp_path, code, timeout=2)
    assert result.timed_out and time.monotonic() - started < 5
    time.sleep(0.2)
    assert not _alive(int(pidfile.read_text()))


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_each_message_gets_its_own_budget(runtime, tmp_path):
    code = "import time\nfor i in range(3):\n    time.sleep(0.8)\n    print('{}', flush=True)\n"
    result = _run(runtime, tmp_path, code, timeout=1.5, messages=3)
    assert not result.timed_out and len(result.messages) == 3


def test_log_is_capped(runtime, tmp_path):
    result = _run(runtime, tmp_path, "import sys\nsys.stderr.write('x' * 10_000_000)\nprint('{}')")
    assert len(result.log.encode()) == LIMITS.log_kb * 1024
    assert result.messages == [{}]


def test_memory_limit_applies(runtime, tmp_path):
    size = (LIMITS.memory_mb + 512) * 1024 * 1024
    code = (
        f"import json\ntry:\n    b = bytearray({size})\n    print(json.dumps({{'got': True}}))\n"
        "except MemoryError:\n    print(json.dumps({'got': False}))\n"
    )
    assert _run(runtime, tmp_path, code).messages == [{"got": False}]
