"""The cohort statistics, checked against values worked out by hand, and the page."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mle_assess.board.cohort import (
    histogram,
    histogram_svg,
    item_analysis,
    module_means,
    percentiles,
)


def result(score: int, quiz: dict[str, int], modules: dict[str, tuple[int, int]]) -> dict:
    return {
        "extra_data": {
            "scaled_score": score,
            "modules": {m: {"score": s, "max_score": x} for m, (s, x) in modules.items()},
        },
        "tests": [
            {"name": n, "score": v, "max_score": 1, "tags": [n.split(".")[0]]}
            for n, v in quiz.items()
        ],
    }


def test_histogram_bins_include_both_ends():
    bins = dict(histogram([200, 224, 225, 599, 600]))
    assert len(bins) == 16 and bins[200] == 2 and bins[225] == 1 and bins[575] == 2
    assert sum(bins.values()) == 5


def test_histogram_svg_is_well_formed_and_labelled():
    svg = histogram_svg([200, 300, 300, 600])
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img"
    assert root.find(f"{ns}title").text == "Scaled scores of the cohort"
    bars = root.findall(f"{ns}rect")
    assert len(bars) == 16
    titles = [b.find(f"{ns}title").text for b in bars]
    assert "300 to 324: 2" in titles and "575 to 600: 1" in titles and "200 to 224: 1" in titles
    assert "<script" not in svg and "http" not in svg.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_percentiles_by_hand():
    # Inclusive method on 200, 300, 400, 500, 600: the p-th percentile is 200 + 4p.
    assert percentiles([600, 200, 400, 300, 500]) == {
        10: 240.0,
        25: 300.0,
        50: 400.0,
        75: 500.0,
        90: 560.0,
    }
    assert percentiles([]) == {}


def test_module_means_are_shares_of_each_modules_points():
    rows = [
        result(400, {}, {"module1": (5, 5), "module3": (6, 12)}),
        result(300, {}, {"module1": (0, 5), "module3": (12, 12)}),
    ]
    assert module_means(rows) == {"module1": 50.0, "module3": 75.0}


def test_item_analysis_by_hand():
    # q1 is right for the two best candidates only: r is high. q2 is right for everyone: no r.
    rows = [
        result(600, {"module1.q1": 1, "module1.q2": 1}, {}),
        result(500, {"module1.q1": 1, "module1.q2": 1}, {}),
        result(300, {"module1.q1": 0, "module1.q2": 1}, {}),
        result(200, {"module1.q1": 0, "module1.q2": 1}, {}),
    ]
    q1, q2 = item_analysis(rows)
    # Pearson r of (1,1,0,0) with (600,500,300,200): cov = 300, var_r = 1, var_t = 100000.
    assert q1.name == "module1.q1" and q1.share_right == 0.5
    assert q1.point_biserial == round(300 / (1 * 100000) ** 0.5, 3)
    assert q2.share_right == 1.0 and q2.point_biserial is None


def test_the_demo_cohort_is_scored_by_the_real_rules(graded_session):
    """Each generated result is a valid results.json whose scaled score is what the scoring
    rules give its checks, and the cohort behaves like one: a spread of scores, and quiz items
    that go with the total."""
    import random
    from fractions import Fraction

    from mle_assess.democohort import synthetic_result, unit_of
    from scoring import CheckResult, load_config, score

    config = load_config()
    reference = graded_session("reference").data
    rng = random.Random(5)
    results = [synthetic_result(reference, rng.gauss(0, 1), rng, config) for _ in range(120)]
    for data in results[:10]:
        checks = [
            CheckResult(t["number"], unit_of(t["number"]), Fraction(t["score"]), t["max_score"])
            for t in data["tests"]
        ]
        assert data["extra_data"]["scaled_score"] == score(checks, config).scaled
        assert [t["number"] for t in data["tests"]] == [t["number"] for t in reference["tests"]]
    scores = [d["extra_data"]["scaled_score"] for d in results]
    assert min(scores) < 350 and max(scores) > 500
    items = item_analysis(results)
    assert len(items) == 10
    assert all(i.point_biserial is not None and i.point_biserial > 0.2 for i in items)
    assert unit_of("module3.level2.no_missing") == "module3.level2"
    assert unit_of("module1.q4") == "module1"


def test_a_generated_cohort_is_written_in_batches_with_progress(db_url, graded_session):
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from mle_assess.db import Assessment, Candidate, Result, connect
    from mle_assess.democohort import BATCH, add_cohort

    _, sessions = connect(db_url)
    lines: list[str] = []
    with sessions.begin() as s:
        assessment = Assessment(name="demo", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        count = 2 * BATCH + 30
        graded = add_cohort(
            s,
            assessment,
            graded_session("reference").data,
            count=count,
            now=datetime.now(UTC),
            echo=lines.append,
        )
    assert lines == [
        f"[cohort] {BATCH}/{count} candidates generated",
        f"[cohort] {2 * BATCH}/{count} candidates generated",
    ]
    with sessions() as s:
        assert s.scalar(select(func.count(Candidate.id))) == count
        scored = s.scalar(
            select(func.count(Candidate.id)).where(Candidate.official_score.is_not(None))
        )
        statuses = set(s.scalars(select(Candidate.status).distinct()))
        assert s.scalar(select(func.count(Result.id))) >= graded
    # Every candidate with a window and a push inside it has its summary refreshed.
    assert graded > 0.8 * count and scored >= graded - 0.1 * count
    assert {"submitted", "in progress", "not started"} <= statuses
