"""The command line: thin, documented, and honest about its exit status."""

import json
import re
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mle_assess import PROJECT_ROOT
from mle_assess.cli import main
from mle_assess.grade.report import validate

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


@pytest.mark.parametrize(("name", "command"), list(_commands(main)))
def test_every_command_has_help_and_is_in_the_readme(name, command):
    assert command.help and len(command.help.strip()) > 20, name
    assert f"mle-assess {name}" in README, f"README.md does not document `mle-assess {name}`"
    result = CliRunner().invoke(main, [*name.split(), "--help"])
    assert result.exit_code == 0


def test_grade_of_a_missing_folder_fails_with_a_reason(tmp_path):
    result = CliRunner().invoke(
        main, ["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "does not exist" in result.output
    assert not (tmp_path / "out").exists()


def test_grade_with_a_broken_config_fails_with_a_reason(tmp_path, template_copy):
    bad = tmp_path / "bad.toml"
    bad.write_text("[weights\n")
    result = CliRunner().invoke(
        main, ["grade", str(template_copy), "--out", str(tmp_path / "o"), "--config", str(bad)]
    )
    assert result.exit_code == 1 and "cannot read scoring config" in result.output


@pytest.mark.slow
def test_grade_command_writes_valid_results_and_exits_zero(samples, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            str(PROJECT_ROOT / ".venv" / "bin" / "mle-assess"),
            "grade",
            str(samples["m4_round2"]),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^scaled 311 \|", proc.stdout, re.M)
    validate(json.loads((out / "results.json").read_text()))
    assert (out / "logs" / "module4.log").is_file()


@pytest.mark.slow
def test_demo_grades_the_samples_adds_a_cohort_and_serves_the_board(tmp_path):
    """`mle-assess demo --port N`: every sample graded and stored, the generated cohort
    added, the board served on 127.0.0.1:N, and the printed demo login signs in."""
    import socket
    import sys
    import time

    import requests
    from sqlalchemy import func, select

    from mle_assess.db import Candidate, Result, connect

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tmp_path / "demo"
    command = [sys.executable, "-m", "mle_assess", "demo", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--cohort", "30", "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith(f"board on http://127.0.0.1:{port}/"):
                break
        output = "\n".join(lines)
        assert lines and lines[-1].startswith("board on"), output
        assert "[7/7] m4_round2: grading" in output
        table = output.split("sample", 1)[1]
        assert re.search(r"^reference\s+600\s", table, re.M)
        assert re.search(r"^template\s+200\s", table, re.M)
        assert "cohort: 30 generated candidates added for the charts" in output
        (password,) = set(
            re.findall(r"^  demo-(?:recruiter|reviewer|admin) / (\S+)$", output, re.M)
        )
        base = f"http://127.0.0.1:{port}"
        # The session cookie is Secure; requests keeps such a cookie off plain HTTP, so it is
        # carried by hand (browsers keep it on loopback: tests/test_board_browser.py).
        with requests.Session() as web:
            web.trust_env = False  # loopback only, never a proxy
            page = web.get(f"{base}/login", timeout=10)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            (first,) = [c for c in page.cookies if c.name == "session"]
            assert first.secure
            signed = web.post(
                f"{base}/login",
                data={"username": "demo-admin", "password": password, "csrf_token": token},
                headers={"Referer": f"{base}/login", "Cookie": f"session={first.value}"},
                allow_redirects=False,
                timeout=10,
            )
            assert signed.status_code == 302
            (cookie,) = [c for c in signed.cookies if c.name == "session"]
            assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
            headers = {"Cookie": f"session={cookie.value}"}
            listing = web.get(f"{base}/", headers=headers, timeout=10)
            assert "Candidates (37)" in listing.text  # 7 samples and 30 generated
            cohort = web.get(f"{base}/cohort", headers=headers, timeout=10)
            assert cohort.status_code == 200 and "<svg" in cohort.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
    engine, sessions = connect(f"sqlite:///{workdir / 'demo.db'}", migrate=False)
    with sessions() as session:
        assert session.scalar(select(func.count(Candidate.id))) == 37
        assert session.scalar(select(func.count(Result.id))) > 7 + 20
    engine.dispose()


def test_demo_refuses_a_port_in_use_before_grading_anything(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            main, ["demo", "--port", str(port), "--workdir", str(tmp_path / "demo")]
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "building the sample" not in result.output and not (tmp_path / "demo").exists()


def test_demo_refuses_a_database_that_is_not_empty(tmp_path):
    from mle_assess.db import Assessment, Candidate, connect

    url = f"sqlite:///{tmp_path / 'board.db'}"
    _, sessions = connect(url)
    with sessions.begin() as s:
        s.add(
            Candidate(
                assessment=Assessment(name="real", version="1"),
                name="A",
                login="a",
                repo="acme/mle-a",
            )
        )
    result = CliRunner().invoke(
        main, ["demo", "--no-serve", "--db", url, "--workdir", str(tmp_path / "demo")]
    )
    assert result.exit_code == 1
    assert "the demo needs an empty database" in result.output
    assert "building the sample" not in result.output


def test_board_with_an_unreachable_database_fails_in_one_line(tmp_path):
    result = CliRunner().invoke(
        main, ["board", "--db", "postgresql://board:pw-secret@127.0.0.1:1/board", "--port", "0"]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to the postgresql database board")
    assert "Traceback" not in result.output and "pw-secret" not in result.output


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("proxied", [True, False])
def test_behind_a_trusted_proxy_the_throttle_counts_each_client(tmp_path, proxied):
    """Behind the TLS proxy every request comes from 127.0.0.1: with --trusted-proxy, five
    failed sign-ins from one client do not lock out everyone else; without it they would."""
    import sys
    import time

    import requests

    from mle_assess.board.auth import MAX_FAILURES, add_user
    from mle_assess.db import connect

    url = f"sqlite:///{tmp_path / 'board.db'}"
    _, sessions = connect(url)
    with sessions.begin() as s:
        add_user(s, "ada", "correct horse battery", "recruiter")
    port = _free_port()
    command = [sys.executable, "-m", "mle_assess", "board", "--db", url, "--port", str(port)]
    if proxied:
        command += ["--trusted-proxy", "127.0.0.1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            line = proc.stdout.readline()
            if not line or line.startswith("board on"):
                break
        assert line.startswith("board on"), line

        def sign_in(client: str, user: str, password: str) -> int:
            headers = {"X-Forwarded-For": client, "X-Forwarded-Proto": "https"}
            with requests.Session() as web:
                web.trust_env = False
                page = web.get(f"{base}/login", headers=headers, timeout=10)
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
                cookie = page.cookies.get("session")
                return web.post(
                    f"{base}/login",
                    data={"username": user, "password": password, "csrf_token": token},
                    headers={
                        **headers,
                        "Cookie": f"session={cookie}",
                        "Referer": f"{'https' if proxied else 'http'}://127.0.0.1:{port}/login",
                    },
                    allow_redirects=False,
                    timeout=10,
                ).status_code

        started = time.monotonic()
        for number in range(MAX_FAILURES):  # one client guessing at made-up accounts
            assert sign_in("203.0.113.7", f"guess{number}", "wrong password!") == 401
        expected = 302 if proxied else 429
        assert sign_in("198.51.100.9", "ada", "correct horse battery") == expected
        if proxied:  # the guessing client itself is throttled
            assert sign_in("203.0.113.7", "ada", "correct horse battery") == 429
        assert time.monotonic() - started < 60
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_readme_quick_start_is_exactly_two_commands():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)$", quick, re.M)
    assert commands == ["make demo", "make test"]


def test_readme_states_every_weight():
    from scoring import load_config

    for unit, share in load_config().weights.items():
        assert f"`{unit}` | {int(share * 100)}%" in README, unit


def test_changelog_exists_in_keep_a_changelog_form():
    text = (PROJECT_ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text or re.search(r"## \[\d+\.\d+\.\d+\]", text)
    assert Path(PROJECT_ROOT / "pyproject.toml").is_file()


def test_db_upgrade_on_postgresql_never_prints_the_password(postgres_server):
    url = postgres_server.create_database().replace("@", ":hunter2-secret@", 1)
    result = CliRunner().invoke(main, ["db-upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.output and "hunter2" not in result.output
    down = url.rsplit(":", 1)[0] + ":1/nowhere"  # a port nothing listens on
    failed = CliRunner().invoke(main, ["db-upgrade", "--db", down])
    assert failed.exit_code == 1
    assert "cannot connect" in failed.output and "hunter2" not in failed.output
