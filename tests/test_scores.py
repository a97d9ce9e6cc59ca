"""Whole submissions graded for real: each sample scores exactly its hand-computed score.

Weights (scoring/config.toml): module1 .15, module2 .15, module3.level1 .15, module3.level2 .20,
module4.level1 .15, module4.level2 .20. Scaled = 200 + round_half_up(400 * weighted fraction).
Module 3 has 6 checks per level; module 4 has 20 checks at level 1 and 17 at level 2
(7 features x high/low anomaly + 3 normal inputs).
"""

import os

import pytest

pytestmark = pytest.mark.slow


def test_reference_scores_600(graded_session):
    results = graded_session("reference")
    extra = results.data["extra_data"]
    assert results.scaled_score == 600
    assert all(t["status"] == "passed" for t in results.data["tests"])
    assert extra["flags"] == []
    # As root (CI) the sandbox is full; a grader without root falls back to reduced.
    assert extra["isolation"] == ("full" if os.geteuid() == 0 else "reduced")
    assert extra["limits_enforced_by"].startswith("rlimits")
    assert results.data["score"] == 5 + 5 + 6 + 6 + 20 + 17


def test_unmodified_template_scores_200(graded_session):
    results = graded_session("template")
    assert results.scaled_score == 200
    assert results.data["score"] == 0
    assert results.data["extra_data"]["flags"] == []


@pytest.mark.parametrize(
    ("sample", "expected", "arithmetic"),
    [
        # quiz only: 400 * (.15 * 5/5 + .15 * 5/5) = 120 -> 320
        ("quiz_only", 320, "400*(.15+.15)=120"),
        # module1 all right; module2: q1 picks one of 2 right (1/2) and one of 4 wrong (1/4) = 1/4,
        # the rest unanswered: module2 = (1/4)/5 = 1/20. 400*(.15 + .15/20) = 60 + 3 = 63 -> 263
        ("quiz_half", 263, "400*(.15+.15*(1/4)/5)=63"),
        # module 3 level 1 all 6; level 2 reuses level 1's preprocessor: loading, pickle, row count
        # and no-missing pass, feature names and values fail = 4/6.
        # 400*(.15 + .20*4/6) = 60 + 53.33 = 113.33 -> 313
        ("m3_level1_only", 313, "400*(.15+.2*4/6)=113.33"),
        # API without anomaly detection: level 1 20/20; level 2 only the 3 normal inputs = 3/17.
        # 400*(.15 + .20*3/17) = 60 + 14.12 = 74.12 -> 274
        ("m4_no_anomaly", 274, "400*(.15+.2*3/17)=74.12"),
        # API rounding to 2 decimals: level 1 loses its 5 predictions = 15/20; level 2 loses the 3
        # normal predictions = 14/17. 400*(.15*15/20 + .20*14/17) = 45 + 65.88 = 110.88 -> 311
        ("m4_round2", 311, "400*(.15*15/20+.2*14/17)=110.88"),
    ],
)
def test_partial_solutions_score_their_hand_computed_score(
    graded_session, sample, expected, arithmetic
):
    assert graded_session(sample).scaled_score == expected, arithmetic


def test_module_and_level_breakdown_of_a_partial(graded_session):
    extra = graded_session("m4_no_anomaly").data["extra_data"]
    assert extra["levels"]["module4.level1"] == {"score": 20, "max_score": 20}
    assert extra["levels"]["module4.level2"] == {"score": 3, "max_score": 17}
    assert extra["modules"]["module4"] == {"score": 23, "max_score": 37}
    assert extra["modules"]["module3"] == {"score": 0, "max_score": 12}


def test_grading_twice_gives_identical_results_apart_from_time(grade, samples):
    first, _ = grade(samples["reference"])
    second, _ = grade(samples["reference"])
    a, b = dict(first.data), dict(second.data)
    a.pop("execution_time"), b.pop("execution_time")
    assert a == b
    assert first.report.split("execution time")[0] == second.report.split("execution time")[0]


def test_another_seed_draws_other_hidden_data_and_reference_still_scores_600(grade, samples):
    results, _ = grade(samples["reference"], seed=7)
    assert results.scaled_score == 600
    assert results.data["extra_data"]["seed"] == 7
