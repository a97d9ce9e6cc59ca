"""Nothing hidden reaches the candidate's template: no key, no reviewer explanation, no hidden
data row, no canary; and the template's answers are all blank."""

from pathlib import Path

import pytest
import yaml

from hidden_tests import CANARY, HIDDEN_DIR, load_keys
from hidden_tests.module3.generate import generate
from mle_assess import TEMPLATE_DIR


def _template_texts() -> dict[str, str]:
    return {
        str(p.relative_to(TEMPLATE_DIR)): p.read_bytes().decode("utf-8", "replace")
        for p in TEMPLATE_DIR.rglob("*")
        if p.is_file()
    }


def test_the_canary_is_planted_in_the_hidden_files():
    planted = [
        p
        for p in HIDDEN_DIR.rglob("*")
        if p.is_file() and CANARY in p.read_text(encoding="utf-8", errors="replace")
    ]
    names = {p.name for p in planted}
    assert {"module1.yaml", "module2.yaml", "generate.py", "oracle.py", "cases.py"} <= names


def test_no_canary_in_the_template():
    for path, text in _template_texts().items():
        assert CANARY not in text, path


def test_no_reviewer_explanation_or_key_field_in_the_template():
    explanations = [" ".join(raw["explanation"].split()) for raw in load_keys().values()]
    for path, text in _template_texts().items():
        flat = " ".join(text.split())
        for explanation in explanations:
            assert explanation[:60] not in flat, path
        assert "explanation:" not in text and "tolerance:" not in text, path
        assert "accepted:" not in text, path


def test_template_answers_are_all_blank():
    answers = yaml.load((TEMPLATE_DIR / "answers.yaml").read_text(), Loader=yaml.BaseLoader)
    for module, questions in answers.items():
        for name, value in questions.items():
            assert value in ("", []), f"{module}.{name} is pre-filled"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_hidden_data_row_in_the_template(tmp_path: Path, seed: int):
    texts = _template_texts()
    public = "\n".join(t for p, t in texts.items() if p.startswith("data/"))
    rest = "\n".join(t for p, t in texts.items() if not p.startswith("data/"))
    for level in (1, 2):
        generate(level, seed, tmp_path / f"l{level}")
        rows = (tmp_path / f"l{level}" / "combined.csv").read_text().splitlines()[1:]
        for row in rows:
            assert row not in rest
            assert f"\n{row}\n" not in public
