"""`sweep` and `finalize`, for organisations that run no board service (and run by it too).

Both only read GitHub (or the board's database) and dispatch grade.yml; neither grades in its
own process.

- **sweep**: for each candidate repository, the newest push, and once the window has closed
  the official push (the last one inside it), must each have a result: our App's check run on
  that SHA. The first of them without one is dispatched (one per candidate per sweep: the
  newest push wins).
- **finalize**: for each closed window, the official SHA must carry our App's final-score
  check run. If it has none, grade.yml is dispatched for it with `final=true`, whose report
  job posts the final scaled score and each module's score on that SHA and in the sticky
  comment.

Trusted times come from the database when one is given (webhook receipts, window openings and
admin extensions), and otherwise from GitHub's events API (push events, and the event that
added the candidate as a collaborator).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mle_assess.db.models import Candidate
from mle_assess.errors import MleAssessError
from mle_assess.github.gateway import Gateway
from mle_assess.github.post import CHECK_NAME, FINAL_CHECK_NAME, INFRA_FAILURE, MAIN_BRANCH
from mle_assess.timebox import Push, Window, newest, official, utc

WORKFLOW = "grade.yml"
# Wait this long after a window closes before finalizing: webhooks and events can lag.
FINALIZE_GRACE = timedelta(minutes=10)


@dataclass
class CandidateTimes:
    """What the time box needs for one repository."""

    repo: str
    login: str | None
    window: Window | None
    pushes: list[Push] = field(default_factory=list)


def times_from_github(gh: Gateway, repo: str, login: str | None = None) -> CandidateTimes:
    """Pushes to main and the window's opening, from the repository's events. Pushes by our
    own App (provisioning's start file) are not the candidate's; only `login`'s addition as a
    collaborator opens the window."""
    bot = gh.login()
    # The events API lists newest first, to the second: reversed, pushes made within the same
    # second keep the order GitHub received them in.
    pushes = [
        Push(e["sha"], e["pushed_at"])
        for e in reversed(gh.push_events(repo))
        if e["ref"] == f"refs/heads/{MAIN_BRANCH}"
        and e["sha"]
        and e["pushed_at"]
        and e["actor"] != bot
    ]
    added = [
        e
        for e in gh.member_events(repo)
        if e["action"] == "added"
        and e["at"]
        and (login is None or (e["login"] or "").lower() == login.lower())
    ]
    opened = min((e["at"] for e in added), default=None)
    return CandidateTimes(repo, login, Window(opened) if opened else None, pushes)


def times_from_db(candidate: Candidate) -> CandidateTimes:
    """The same from the board's database: the window as opened (and extended by an admin),
    and the pushes with the times the webhook receiver recorded."""
    window = None
    if candidate.started_at is not None:
        window = Window(
            utc(candidate.started_at),
            candidate.assessment.window_minutes,
            candidate.extension_minutes,
        )
    pushes = [
        Push(s.sha, utc(s.pushed_at or s.received_at))
        for s in sorted(candidate.submissions, key=lambda s: (s.pushed_at or s.received_at, s.id))
    ]
    return CandidateTimes(candidate.repo, candidate.login, window, pushes)


def extend(session: Session, repo: str, minutes: int) -> Candidate:
    """An admin's extension of one candidate's window, by `minutes` (cumulative)."""
    if minutes <= 0:
        raise MleAssessError("an extension is a positive number of minutes")
    candidate = session.scalar(select(Candidate).where(Candidate.repo == repo))
    if candidate is None:
        raise MleAssessError(f"{repo} is not a candidate repository in this database")
    candidate.extension_minutes += minutes
    candidate.finalized_at = None  # the window closes later: the board finalizes it then
    if candidate.started_at is not None:
        total = candidate.assessment.window_minutes + candidate.extension_minutes
        candidate.deadline = utc(candidate.started_at) + timedelta(minutes=total)
    return candidate


def _graded(gh: Gateway, repo: str, sha: str, name: str) -> bool:
    """Whether our App's check run `name` with a result is on `sha` (another app's never
    counts, nor a neutral "grading did not run")."""
    ours = gh.app_id()
    return any(
        c["name"] == name and c["app_id"] == ours and c["external_id"] != INFRA_FAILURE
        for c in gh.check_runs(repo, sha, name)
    )


def sweep_one(
    reader: Gateway,
    times: CandidateTimes,
    dispatch: Callable[[str, str, bool], None],
    now: datetime,
) -> str | None:
    """Dispatch the first wanted SHA without a result; returns it, or None."""
    wanted = []
    if times.window is not None and times.window.is_closed(now):
        last = official(times.pushes, times.window)
        if last:
            wanted.append(last)
    latest = newest(times.pushes)
    if latest and latest not in wanted:
        wanted.insert(0, latest)
    for push in wanted:
        if not _graded(reader, times.repo, push.sha, CHECK_NAME):
            dispatch(times.repo, push.sha, False)
            return push.sha
    return None


def finalize_one(
    reader: Gateway,
    times: CandidateTimes,
    dispatch: Callable[[str, str, bool], None],
    now: datetime,
) -> str | None:
    """For a closed window, dispatch the official SHA's final grading unless it was posted."""
    if times.window is None or not times.window.is_closed(now - FINALIZE_GRACE):
        return None
    last = official(times.pushes, times.window)
    if last is None or _graded(reader, times.repo, last.sha, FINAL_CHECK_NAME):
        return None
    dispatch(times.repo, last.sha, True)
    return last.sha


def dispatcher(gh: Gateway, assessment_repo: str, ref: str = "main") -> Callable:
    """Dispatch grade.yml in the assessment repository (`final` for the final score)."""

    def dispatch(repo: str, sha: str, final: bool) -> None:
        inputs = {"repo": repo, "sha": sha}
        if final:
            inputs["final"] = "true"
        gh.dispatch(assessment_repo, WORKFLOW, ref, inputs)

    return dispatch
