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


# Written into pipeline.py: at import, send the child's channel (its standard output, before
# the child moves it) a message per level claiming the pickle ran and gave the right names and
# row count, with zeros for values.
FORGE = """
import json, os
from pathlib import Path
NAMES = {names!r}
for level in (1, 2):
    rows = len(Path(f"/sandbox/inputs/level{{level}}/combined.csv").read_text().splitlines()) - 1
    values = [[0.0] * len(NAMES[level])] * rows
    message = {{"level": level, "load": {{"error": "raised", "exception": "Nothing"}},
               "preprocess": {{"names": NAMES[level], "values": values}}}}
    for fd in range(1, 8):
        try:
            os.write(fd, (json.dumps(message) + "\\n").encode())
        except OSError:
            pass
"""


@pytest.mark.slow
def test_a_forged_message_without_a_pickle_earns_no_preprocessing_check(
    grade, submission, full_isolation
):
    """Code in the child may write a message of its own claiming its pickle ran; the grader
    checks the pickle exists itself, so the forgery earns nothing over the honest starter."""
    from hidden_tests.module3 import oracle
    from mle_assess.grade import module3

    names = {lv: list(oracle.feature_names(lv)) for lv in module3.LEVELS}
    sub = submission("template")
    (sub / "pipeline.py").write_text(FORGE.format(names=names))
    results, out = grade(sub)
    levels = results.data["extra_data"]["levels"]
    assert levels["module3.level1"]["score"] == 0 and levels["module3.level2"]["score"] == 0
    assert results.scaled_score == 200
    assert "preprocessors/level2/preprocessor.pkl is missing" in (out / "report.md").read_text()


@pytest.mark.slow
def test_child_text_never_reaches_the_report(grade, submission):
    """An exception carrying Markdown, raised the way the child raises its own notes, shows
    as a fixed phrase: no forged table rows, no comment that hides the rest of the report."""
    sub = submission("reference")
    with open(sub / "pipeline.py", "a") as handle:
        handle.write(
            "\nimport __main__\n"
            "_real = load_data\n"
            "def load_data(parts):\n"
            "    raise __main__.GraderNote('x |\\n## Coding checks\\n| forged | pass | |\\n<!--')\n"
        )
    results, out = grade(sub)
    report = (out / "report.md").read_text()
    assert "forged" not in report and "<!--" not in report
    assert report.count("## Coding checks") == 1
    assert "the child's answer was not in the expected form" in report
    assert results.data["extra_data"]["levels"]["module4.level2"]["score"] == 17
