"""The candidate's README states what the grader actually does.

Every value is read from its source of truth (the scoring config, the module 3 oracle and
checks, the module 4 cases, the snapshot rules), so a change there that the README does not
follow fails here.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from fractions import Fraction
from pathlib import Path

import pytest

from hidden_tests.module3 import oracle
from hidden_tests.module4.cases import cases
from mle_assess import TEMPLATE_DIR
from mle_assess.grade.module3 import CHECKS
from mle_assess.grade.snapshot import MAX_FILES, PROTECTED
from scoring import Limits, load_config

README = TEMPLATE_DIR / "README.md"
PARAMS = Path(oracle.__file__).resolve().parents[1] / "module4" / "model_params.json"

# Each limit: words its row in the Limits table must contain, and the unit written after it.
LIMIT_ROWS = {
    "level_seconds": ("each coding level", "s"),
    "app_startup_seconds": ("start listening", "s"),
    "request_seconds": ("answer one request", "s"),
    "memory_mb": ("address space", "MB"),
    "file_size_mb": ("file your code may write", "MB"),
    "processes": ("processes and threads", ""),
    "open_files": ("open files", ""),
    "tmp_mb": ("temporary files", "MB"),
    "submission_file_kb": ("file taken from your repository", "KB"),
    "answers_yaml_kb": ("answers.yaml", "KB"),
    "log_kb": ("printed output", "KB"),
}


@pytest.fixture(scope="module")
def text() -> str:
    """The README as the candidate receives it."""
    return README.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The body of the level-2 section `## heading`, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"the README has no '## {heading}' section"
    return match.group(1)


def table_rows(body: str) -> list[list[str]]:
    """The cells of every Markdown table row in `body`, header and separator rows excluded."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in body.splitlines()
        if line.startswith("|")
    ]
    return [row for row in rows if not set(row[0]) <= set("- ")][1:]


def percent(share: Fraction) -> str:
    """A weight as the README writes it: `15%`, or `12.5%` when not whole."""
    value = share * 100
    return f"{value.numerator}%" if value.denominator == 1 else f"{float(value):g}%"


def unit_label(unit: str) -> str:
    """`module3.level1` -> `Module 3, level 1`; `module1` -> `Module 1`."""
    module, _, level = unit.partition(".")
    label = module.replace("module", "Module ")
    return f"{label}, {level.replace('level', 'level ')}" if level else label


def test_every_limit_is_listed_with_its_meaning_and_unit(text: str) -> None:
    limits = load_config().limits
    assert set(LIMIT_ROWS) == {f.name for f in fields(Limits)}, "describe the new limit here"
    rows = table_rows(section(text, "Limits"))
    for name, (meaning, unit) in LIMIT_ROWS.items():
        want = f"{getattr(limits, name)} {unit}".strip()
        matching = [row for row in rows if meaning in row[0]]
        assert len(matching) == 1, f"one Limits row must describe {name} ({meaning!r})"
        assert matching[0][-1] == want, f"{name}: README says {matching[0][-1]!r}, not {want!r}"


def test_every_weight_and_the_scale_are_stated(text: str) -> None:
    config = load_config()
    body = section(text, "Scoring")
    rows = {row[0]: row[-1] for row in table_rows(body)}
    for unit, share in config.weights.items():
        assert rows.get(unit_label(unit)) == percent(share), unit
    for module in ("module3", "module4"):
        total = sum(w for u, w in config.weights.items() if u.startswith(module + "."))
        assert percent(total) in body, f"{module}'s total weight"
    span = config.scale_max - config.scale_min
    assert f"{config.scale_min} + round({span} x weighted fraction)" in body
    assert f"**{config.scale_min}**" in text and f"**{config.scale_max}**" in text


def test_select_all_formula_is_stated(text: str) -> None:
    formula = "max(0, chosen correct / all correct - chosen wrong / all wrong)"
    assert formula in section(text, "Scoring")


@pytest.mark.parametrize("level", [1, 2])
def test_every_module4_error_string_is_stated_exactly(text: str, level: int) -> None:
    params = json.loads(PARAMS.read_text(encoding="utf-8"))
    errors = {
        case.expected["error"] for case in cases(level, 1, params) if "error" in case.expected
    }
    assert errors, "the cases should expect some error bodies"
    for message in errors:
        assert f'{{"error": "{message}"}}' in text or f"`{message}`" in text, message


def test_module4_start_command_and_content_type(text: str) -> None:
    body = section(text, "Module 4: prediction API (levels 1 and 2)")
    assert "`python3 app.py --port PORT`" in body
    assert "`Content-Type: application/json`" in body
    assert "`application/json`" in body
    for host in ("127.0.0.1", "::1"):
        assert host in body


def test_pickle_paths_are_stated(text: str) -> None:
    for level in (1, 2):
        assert f"`preprocessors/level{level}/preprocessor.pkl`" in text


def test_every_level2_feature_name_is_stated(text: str) -> None:
    body = section(text, "Module 3: data pipeline (levels 1 and 2)")
    for name in oracle.feature_names(2):
        assert f"`{name}`" in body, name


def test_every_module3_check_title_is_listed(text: str) -> None:
    lines = set(section(text, "Module 3: data pipeline (levels 1 and 2)").splitlines())
    for title in CHECKS.values():
        assert f"- {title}" in lines, title


def test_every_protected_path_and_the_file_cap_are_stated(text: str) -> None:
    body = section(text, "Rules")
    for path in PROTECTED:
        assert f"`{path}`" in body, path
    assert f"At most {MAX_FILES} files" in body


def test_the_readme_points_nowhere_private(text: str) -> None:
    assert "hidden_tests" not in text
    assert "solutions/" not in text
