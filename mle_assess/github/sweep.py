"""`sweep` and `finalize`, for organisations that run no board service (and run by it too).

Both only read GitHub (or the board's database) and dispatch grade.yml; neither grades in its
own process. Both also close the door at the deadline: a closed window's candidate is dropped
to read access (`mle_assess.github.deadline`).

- **sweep**: for each candidate repository, the newest push, and once the window has closed
  the official push (the last one inside it), must each have a result: our App's check run on
  that SHA. The first of them without one is dispatched (one per candidate per sweep: the
  newest push wins).
- **finalize**: for each closed window, the official SHA must carry our App's final-score
  check run. If it has none, grade.yml is dispatched for it with `final=true`, whose report
  job posts the final scaled score and each module's score on that SHA and in the sticky
  comment.
- **reconcile_pushes** (the board service): pushes to main that GitHub's activity API lists
  but the board never received as a webhook are recorded with the activity's time and graded.

Trusted times come from the database when one is given (webhook receipts, window openings and
admin extensions). Without one, push times come from the repository activity API
(`GET /repos/{o}/{r}/activity`, REST "List repository activities"), which records each push,
force push and merge with GitHub's own time as it happens; the events API, which lags by up to
6 hours and keeps 300 events (REST "Events"), is never used for pushes.

**The window's opening without a board.** The activity API does not list collaborators being
added, so the opening is the time of the `MemberEvent` (action "added") in the events API.
That time is GitHub's own, so the window is never placed wrongly; but the event may appear up
to `EVENTS_LAG` (6 hours) after the acceptance. Until it appears the window is unknown, and an
unknown window is never treated as closed. So, without a board:
- the official push and the final score are always right (push times and the opening are
  both GitHub's);
- write access is dropped, and the final score dispatched, at the first sweep after both the
  close and the event's appearance: at most max(window, EVENTS_LAG) after the acceptance, plus
  the sweep's interval and GitHub's delay of scheduled runs. With a 90-minute window that is
  up to 4.5 hours after the close in the worst lag GitHub documents; pushes made then are
  graded and marked late, never official.
- If no `MemberEvent` has appeared `EVENTS_LAG` after the candidate's first push to main, it
  is not late but gone (the list keeps 300 events, 30 days): the window then opens at that
  first push, never earlier than the true opening, so the window never closes early.
The board (the `member` webhook, kept with its delivery time) has none of these delays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mle_assess.db.models import Candidate, Submission
from mle_assess.errors import GitHubError, MleAssessError
from mle_assess.github.gateway import Gateway
from mle_assess.github.post import CHECK_NAME, FINAL_CHECK_NAME, INFRA_FAILURE, MAIN_BRANCH
from mle_assess.github.queue import grade_inputs
from mle_assess.logsafe import for_log
from mle_assess.timebox import Push, Window, in_order, newest, official, utc

WORKFLOW = "grade.yml"
# What makes a new commit current on main (REST "List repository activities").
PUSH_ACTIVITIES = frozenset({"push", "force_push", "pr_merge"})
ZERO_SHA = "0" * 40
# The events API's documented latency, at most ("anywhere from 30s to 6h", REST "Events").
EVENTS_LAG = timedelta(hours=6)
# Wait this long after a window closes before finalizing: webhooks and events can lag.
FINALIZE_GRACE = timedelta(minutes=10)
# How often the board service reconciles pushes with the activity API: one request (a page)
# per open window each time, well inside the installation's hourly request limit.
RECONCILE_EVERY = timedelta(minutes=5)
# A webhook's time of a push and the activity API's can differ by their rounding.
SAME_PUSH = timedelta(seconds=2)


@dataclass
class CandidateTimes:
    """What the time box needs for one repository."""

    repo: str
    login: str | None
    window: Window | None
    pushes: list[Push] = field(default_factory=list)


def activity_pushes(gh: Gateway, repo: str, bot: str | None = None) -> list[Push]:
    """Pushes to main from the repository activity API, oldest first, timed by GitHub's
    `timestamp` to the second (as push webhooks give `pushed_at`). A push, a force push and a
    pull request merged into main each make a commit current; pushes by our own App (`bot`:
    provisioning's start file) are not the candidate's."""
    bot = (bot or gh.login()).lower()
    ref = f"refs/heads/{MAIN_BRANCH}"
    found = [
        Push(a["after"], utc(a["timestamp"]).replace(microsecond=0))
        # The list is newest first: reversed, pushes within one second keep GitHub's order.
        for a in reversed(gh.repo_activity(repo, ref=ref))
        if a["ref"] in (ref, MAIN_BRANCH)
        and a["activity_type"] in PUSH_ACTIVITIES
        and a["after"]
        and a["after"] != ZERO_SHA
        and a["timestamp"]
        and (a["actor"] or "").lower() != bot
    ]
    return in_order(found)


def times_from_github(
    gh: Gateway, repo: str, login: str | None = None, now: datetime | None = None
) -> CandidateTimes:
    """Pushes to main (the activity API) and the window's opening (the events API's
    `MemberEvent` for `login`, or their first push once the event cannot merely be late),
    without a database: see the module's docstring for the bound this gives."""
    now = now or gh.clock()
    pushes = activity_pushes(gh, repo)
    added = [
        e
        for e in gh.member_events(repo)
        if e["action"] == "added"
        and e["at"]
        and (login is None or (e["login"] or "").lower() == login.lower())
    ]
    opened = min((utc(e["at"]) for e in added), default=None)
    if opened is None and pushes and now - pushes[0].pushed_at > EVENTS_LAG:
        # Not lagging but gone from the list (300 events, 30 days): they were a collaborator
        # no later than their first push, so the window cannot close early from here.
        opened = pushes[0].pushed_at
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


def reconcile_pushes(
    session_or_sessions: Session | sessionmaker,
    gh: Gateway,
    dispatch: Callable[[str, str], None],
    now: datetime,
    echo: Callable[[str], None] = print,
) -> list[tuple[str, str]]:
    """For the board service, every few minutes (`RECONCILE_EVERY`): the pushes to main that
    the activity API lists but the board has no submission for (a webhook that never arrived)
    are recorded with the activity's time and their grading asked for (`queue.request_grading`,
    oldest first, so the newest push wins as it would have).

    Only candidates whose window is open, or closed less than `FINALIZE_GRACE` ago, are asked
    about: after that the finalizer has decided. Given a sessionmaker, each candidate is a
    transaction of its own and a GitHub failure costs only that candidate (said on `echo`);
    given a Session, the caller commits. Returns the (repository, SHA) pairs recorded."""
    if isinstance(session_or_sessions, Session):
        return _reconcile(session_or_sessions, gh, dispatch, now, echo, None)
    sessions = session_or_sessions
    with sessions() as session:
        ids = _reconcile_due(session, now)
    found: list[tuple[str, str]] = []
    for candidate_id in ids:
        with sessions.begin() as session:
            found += _reconcile(session, gh, dispatch, now, echo, [candidate_id])
    return found


def _reconcile_due(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Candidate.id)
            .where(
                Candidate.started_at.is_not(None),
                Candidate.deadline.is_not(None),
                Candidate.deadline >= now - FINALIZE_GRACE,
            )
            .order_by(Candidate.deadline, Candidate.id)
        )
    )


def _reconcile(
    session: Session,
    gh: Gateway,
    dispatch: Callable[[str, str], None],
    now: datetime,
    echo: Callable[[str], None],
    ids: list[int] | None,
) -> list[tuple[str, str]]:
    from mle_assess.board.summary import refresh  # the board's, imported only when used
    from mle_assess.github.queue import request_grading

    bot = gh.login()
    found: list[tuple[str, str]] = []
    for candidate_id in _reconcile_due(session, now) if ids is None else ids:
        candidate = session.get(Candidate, candidate_id)
        try:
            pushes = activity_pushes(gh, candidate.repo, bot)
        except GitHubError as exc:  # tried again next round; the others go on
            echo(for_log(f"reconcile {candidate.repo}: {exc}; trying again later"))
            continue
        stored = {s.sha: s for s in candidate.submissions}
        latest = {p.sha: p.pushed_at for p in pushes}  # the last time main became each SHA
        added = False
        for push in pushes:
            if latest[push.sha] != push.pushed_at:
                continue  # pushed again later (a force push back to it): that time counts
            known = stored.get(push.sha)
            if known is not None:
                # A push back to a commit already recorded, whose webhook was missed: main is
                # that commit as of this push (as the receiver does). A webhook's own time of
                # the same push may differ from the activity's by rounding, hence the margin.
                if known.pushed_at is None or push.pushed_at > utc(known.pushed_at) + SAME_PUSH:
                    known.pushed_at = push.pushed_at
                    added = True
                continue
            stored[push.sha] = Submission(
                candidate_id=candidate.id, sha=push.sha, pushed_at=push.pushed_at, received_at=now
            )
            session.add(stored[push.sha])
            session.flush()
            state = request_grading(session, candidate, push.sha, push.pushed_at, dispatch, now)
            found.append((candidate.repo, push.sha))
            added = True
            echo(for_log(f"reconcile {candidate.repo}: push {push.sha[:7]} recorded; {state}"))
        if added:
            session.flush()
            session.refresh(candidate)
            refresh(candidate, now)
    return found


def open_window_from_github(
    session: Session, candidate: Candidate, gh: Gateway, now: datetime | None = None
) -> datetime | None:
    """Open the window of a candidate who collaborates but whose `member` webhook never
    arrived, at GitHub's own record of the acceptance (`times_from_github`: the events API's
    time, or the first push once that cannot be late); returns the opening, or None while
    GitHub shows neither yet. The caller commits."""
    if candidate.started_at is not None:
        return None
    times = times_from_github(gh, candidate.repo, candidate.login, now)
    if times.window is None:
        return None
    from mle_assess.board.summary import refresh  # the board's columns, kept current

    opened = times.window.opened_at
    minutes = candidate.assessment.window_minutes + candidate.extension_minutes
    candidate.started_at, candidate.deadline = opened, opened + timedelta(minutes=minutes)
    refresh(candidate, now or gh.clock())
    return opened


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


def dispatcher(
    gh: Gateway,
    assessment_repo: str,
    ref: str = "main",
    *,
    templates: Callable[[str], str | None] | None = None,
) -> Callable:
    """Dispatch grade.yml in the assessment repository (`final` for the final score), with
    the candidate's template commit when `templates` knows it (`queue.template_commits`)."""

    def dispatch(repo: str, sha: str, final: bool) -> None:
        inputs = grade_inputs(repo, sha, templates)
        if final:
            inputs["final"] = "true"
        gh.dispatch(assessment_repo, WORKFLOW, ref, inputs)

    return dispatch
