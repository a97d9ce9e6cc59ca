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
def test_demo_grades_every_sample_and_stores_the_results(tmp_path):
    from sqlalchemy import func, select

    from mle_assess.db import Result, connect

    workdir = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--no-serve", "--workdir", str(workdir)])
    assert result.exit_code == 0, result.output
    assert "[7/7] m4_round2: grading" in result.output
    table = result.output.split("sample", 1)[1]
    assert re.search(r"^reference\s+600\s", table, re.M)
    assert re.search(r"^template\s+200\s", table, re.M)
    engine, sessions = connect(f"sqlite:///{workdir / 'demo.db'}", migrate=False)
    with sessions() as session:
        assert session.scalar(select(func.count(Result.id))) == 7
    engine.dispose()


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
