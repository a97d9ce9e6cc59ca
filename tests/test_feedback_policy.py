"""The candidate-facing `output` follows the feedback policy: never quiz correctness, hidden
inputs, expected values, tracebacks or candidate output."""

import json

import pytest

from hidden_tests import load_keys
from hidden_tests.module4.cases import cases
from mle_assess.grade.module4 import PARAMS

pytestmark = pytest.mark.slow


def test_output_does_not_reveal_quiz_correctness(graded_session, grade, submission):
    """Right answers and wrong answers in the same format give the same candidate output."""
    right = graded_session("reference").data["output"]
    sub = submission("reference")
    text = (sub / "answers.yaml").read_text()
    for letter_from, letter_to in (("[b]", "[a]"), (": b", ": a"), (": c", ": d")):
        text = text.replace(letter_from, letter_to)
    (sub / "answers.yaml").write_text(text)
    wrong, _ = grade(sub)
    assert wrong.data["extra_data"]["modules"]["module1"]["score"] < 5
    assert wrong.data["output"] == right
    assert "5 of 5 answered" in right


def test_output_holds_no_key_explanation_or_answer(graded_session):
    outputs = [graded_session(n).data["output"] for n in ("reference", "template", "quiz_half")]
    for raw in load_keys().values():
        for output in outputs:
            assert raw["explanation"].strip()[:40] not in output
    for output in outputs:
        assert "explanation" not in output.lower()
        assert "score" not in output.lower().replace("scores are shown after", "")


def test_output_holds_no_hidden_input_or_expected_value(graded_session):
    params = json.loads(PARAMS.read_text())
    output = graded_session("m4_round2").data["output"]
    for level in (1, 2):
        for case in cases(level, 1, params):
            for value in case.expected.values():
                if isinstance(value, float):
                    assert f"{value}" not in output
            assert case.body.decode() not in output or len(case.body) < 4


def test_output_holds_no_traceback_or_candidate_print(grade, submission):
    sub = submission("reference")
    marker = "CANDIDATE-PRINTED-THIS"
    with open(sub / "pipeline.py", "a") as handle:
        handle.write(f"\nprint({marker!r})\nraise RuntimeError({marker!r})\n")
    results, out = grade(sub)
    assert marker not in results.data["output"]
    assert "Traceback" not in results.data["output"]
    assert marker not in json.dumps(results.data)
    assert marker in (out / "logs" / "module3.log").read_text(), "kept for the reviewer"


def test_no_canary_in_anything_graded(graded_session):
    from hidden_tests import CANARY

    for name in ("reference", "template", "m4_round2"):
        assert CANARY not in json.dumps(graded_session(name).data)
