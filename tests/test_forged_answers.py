"""Whatever comes back from a child is candidate-reachable: answers of the wrong shape fail
their checks and never crash the grader; texts shown are the grader's own."""

import json

import pytest

from hidden_tests.module4.cases import cases
from mle_assess.grade import module4
from mle_assess.grade.module4 import PARAMS, body_matches, verdict

CASE = next(c for c in cases(1, 1, json.loads(PARAMS.read_text())) if c.status == 200)


@pytest.mark.parametrize(
    "response",
    [
        None,
        5,
        [],
        {"status": "200"},
        {"status": 200, "content_type": 5, "body": 7},
        {"status": 200, "content_type": "application/json", "body": "[" * 60000},
        {"status": 200, "content_type": "application/json", "body": '{"prediction": NaN}'},
        {"status": 200, "content_type": "application/json", "body": '{"prediction": Infinity}'},
    ],
)
def test_malformed_or_non_finite_responses_fail_without_crashing(response):
    assert verdict(CASE, response) is not None


def test_a_nan_prediction_never_matches():
    assert not body_matches({"prediction": float("nan")}, CASE.expected)
    assert body_matches(dict(CASE.expected), CASE.expected)


@pytest.mark.slow
def test_forged_channel_messages_fail_the_module_and_grading_finishes(grade, submission):
    sub = submission("reference")
    with open(sub / "pipeline.py", "a") as handle:
        handle.write(
            "\nimport os\nfor fd in (1, 3, 4):\n    try:\n"
            '        os.write(fd, b\'{"level": 1, "load": {}, "preprocess": [1]}\\n\')\n'
            "    except OSError:\n        pass\n"
        )
    results, _ = grade(sub)
    assert results.scaled_score < 600
    assert results.data["extra_data"]["levels"]["module4.level2"]["score"] == 17


@pytest.mark.slow
def test_a_nan_answering_app_scores_no_prediction(grade, submission):
    sub = submission("reference")
    text = (sub / "app.py").read_text()
    assert "round(float(MODEL.predict" in text
    (sub / "app.py").write_text(
        text.replace(
            'return jsonify({"prediction": round(float(MODEL.predict([features])[0]), 3)}), 200',
            "return app.response_class('{\"prediction\": NaN}', mimetype='application/json')",
        )
    )
    results, _ = grade(sub)
    failed = {t["number"] for t in results.data["tests"] if t["status"] == "failed"}
    assert any(n.startswith("module4.level1") for n in failed), "predictions must fail"


def test_start_failure_text_is_the_graders_own():
    forged = "x\n::error title=pwned::injected"
    kind, text = module4.START_FAILURES.get(forged, module4.START_FAILURES["unknown"])
    assert "::" not in text and kind == "error"
