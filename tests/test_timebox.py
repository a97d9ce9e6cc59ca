"""The time box decides from trusted times alone: the window, the official push, late pushes."""

from datetime import UTC, datetime, timedelta

import pytest

from mle_assess.timebox import Push, Window, is_late, official, status, time_used

OPEN = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return OPEN + timedelta(minutes=minutes)


def test_window_is_ninety_minutes_and_includes_its_last_moment():
    window = Window(OPEN)
    assert window.closes_at == at(90)
    assert window.contains(at(0)) and window.contains(at(90))
    assert not window.contains(at(90.001)) and not window.contains(at(-0.001))


def test_official_is_the_last_push_inside_the_window_whatever_the_order_given():
    pushes = [Push("c", at(95)), Push("a", at(10)), Push("b", at(89))]
    assert official(pushes, Window(OPEN)) == Push("b", at(89))
    assert is_late(Push("c", at(95)), Window(OPEN))
    assert not is_late(Push("b", at(89)), Window(OPEN))


def test_an_extension_moves_the_deadline():
    window = Window(OPEN).extended(15)
    assert window.closes_at == at(105)
    assert official([Push("b", at(89)), Push("c", at(95))], window) == Push("c", at(95))


def test_time_used_runs_to_the_official_push_or_the_clock():
    window = Window(OPEN)
    assert time_used(window, [Push("a", at(42)), Push("z", at(200))], at(300)) == timedelta(
        minutes=42
    )
    assert time_used(window, [], at(30)) == timedelta(minutes=30)
    assert time_used(window, [], at(300)) == timedelta(minutes=90)


def test_status_follows_the_window():
    window = Window(OPEN)
    assert status(None, [], at(0)) == "not started"
    assert status(window, [Push("a", at(5))], at(50)) == "in progress"
    assert status(window, [Push("a", at(5))], at(91)) == "submitted"
    assert status(window, [Push("z", at(95))], at(100)) == "late"


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 11, 28, 9, 0))


def test_an_admin_extension_is_stored_and_moves_the_deadline(db_url):
    from mle_assess.db import Assessment, Candidate, Submission, connect
    from mle_assess.errors import MleAssessError
    from mle_assess.github.sweep import extend, times_from_db

    _, sessions = connect(db_url)
    with sessions.begin() as s:
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        candidate = Candidate(
            assessment_id=assessment.id, name="A", login="a", repo="acme/mle-a", started_at=OPEN
        )
        s.add(candidate)
        s.flush()
        s.add(Submission(candidate_id=candidate.id, sha="b" * 40, pushed_at=at(100)))
    with sessions.begin() as s:
        extend(s, "acme/mle-a", 15)
        with pytest.raises(MleAssessError, match="not a candidate"):
            extend(s, "acme/nobody", 5)
    with sessions() as s:
        from sqlalchemy import select

        stored = s.scalar(select(Candidate))
        assert stored.deadline.replace(tzinfo=UTC) == at(105)
        times = times_from_db(stored)
    assert times.window.closes_at == at(105)
    assert official(times.pushes, times.window) == Push("b" * 40, at(100))
