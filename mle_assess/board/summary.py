"""Each candidate's summary on the board: official push, score, status, time used, flags.

Computed with the time box from trusted times (`mle_assess.timebox`) and stored on the
candidate, so the list sorts, filters and pages in the database. It is refreshed when a
result or a push arrives, and for windows that closed since (`refresh_due`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mle_assess.db.models import Candidate, Result, Submission
from mle_assess.timebox import Push, Window, official, status, time_used, utc


def window_of(candidate: Candidate) -> Window | None:
    if candidate.started_at is None:
        return None
    return Window(
        utc(candidate.started_at),
        candidate.assessment.window_minutes,
        candidate.extension_minutes,
    )


def official_result(candidate: Candidate) -> Result | None:
    """The result shown for the candidate's official SHA: an authoritative one (our App's)
    over one posted with a plain token, then the newest grading (a regrade)."""
    for submission in candidate.submissions:
        if submission.sha == candidate.official_sha and submission.results:
            return max(submission.results, key=lambda r: (bool(r.authoritative), utc(r.graded_at)))
    return None


def refresh(candidate: Candidate, now: datetime) -> None:
    """Recompute the candidate's summary columns."""
    pushes = [Push(s.sha, utc(s.pushed_at or s.received_at)) for s in candidate.submissions]
    window = window_of(candidate)
    last = official(pushes, window) if window else None
    candidate.official_sha = last.sha if last else None
    result = official_result(candidate)
    candidate.official_score = result.scaled_score if result else None
    candidate.status = status(window, pushes, now)
    candidate.time_used_seconds = (
        int(time_used(window, pushes, now).total_seconds()) if window else None
    )
    kinds = sorted({f["kind"] for f in result.data["extra_data"]["flags"]}) if result else []
    candidate.flags = " ".join(kinds)[:500]


def refresh_due(session: Session, now: datetime) -> int:
    """Refresh every candidate still shown in progress whose window has closed since."""
    due = session.scalars(
        select(Candidate)
        .where(Candidate.status == "in progress", Candidate.deadline < now)
        .options(selectinload(Candidate.submissions).selectinload(Submission.results))
    ).all()
    for candidate in due:
        refresh(candidate, now)
    return len(due)
