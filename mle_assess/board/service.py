"""What the board service does beside serving pages: periodic jobs, run in one thread.

`Service` runs `Job`s, each on its own interval (`board_jobs` makes the board's):
- **deliveries**, every few seconds: stored webhook deliveries are processed
  (`mle_assess.github.webhook.process_deliveries`: submissions, windows, gradings). The
  receiver only stores them, so it answers GitHub at once.
- **redeliver**, every few minutes: `redeliver_failed` asks GitHub for the App's webhook
  deliveries whose every attempt failed and which we never stored (the board was down, or
  answered too late), records each one's original time, and has GitHub send it again. GitHub
  never does this by itself and keeps deliveries for 3 days (docs.github.com, "Handling failed
  webhook deliveries", "Automatically redelivering failed deliveries for a GitHub App
  webhook", "Redelivering webhooks").
- **finalize**, every minute: once a candidate's window has been closed for `FINALIZE_GRACE`
  (pushes and webhooks can lag), `finalize_due` runs `finalize` for them, from the trusted
  times in the board's database: unless our App's final-score check run is already on the
  official SHA, grade.yml is dispatched for it with `final=true`. Each candidate is dealt with
  once (`Candidate.finalized_at`); a GitHub failure leaves them for the next round. The
  scheduled `finalize` (sweep.yml) stays the safety net, for a final grading that was
  dispatched but never posted.

A job's failure is logged and the job runs again at its next interval; the others go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from mle_assess.db.models import Candidate, WebhookDelivery, WebhookRedelivery
from mle_assess.errors import GitHubError, GitHubNotFound
from mle_assess.github import deadline
from mle_assess.github.gateway import Gateway
from mle_assess.github.provision import INVITATIONS_EVERY, refresh_invitations
from mle_assess.github.sweep import (
    FINALIZE_GRACE,
    RECONCILE_EVERY,
    finalize_one,
    reconcile_pushes,
    times_from_db,
)
from mle_assess.logsafe import for_log
from mle_assess.timebox import utc

PROCESS_EVERY = 2.0  # seconds between rounds of processing stored deliveries
REDELIVER_EVERY = 300.0  # seconds between redelivery sweeps
FINALIZE_EVERY = 60.0  # seconds between finalizing rounds
# GitHub can redeliver deliveries of the past 3 days only ("Redelivering webhooks").
REDELIVERY_WINDOW = timedelta(days=3)
REDELIVER_PER_ROUND = 100  # redeliveries asked for in one round, at most
# Redeliveries asked for one delivery before giving up on it, each after twice the wait of the
# one before (5, 10, 20, ... minutes): together they cover an outage of about 10 hours.
REDELIVER_TRIES = 8


def finalize_due(
    sessions: sessionmaker,
    reader: Gateway,
    dispatch: Callable[[str, str, bool], None],
    now: datetime,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Finalize every candidate whose window closed more than FINALIZE_GRACE ago and who was
    not finalized yet, each in a transaction of its own; returns the repositories dealt with.

    A repository GitHub no longer has is marked dealt with (and said so);
    any other failure leaves the candidate for the next round. A window extended while the
    round ran is left for when it closes again."""
    with sessions() as session:
        due = session.execute(
            select(Candidate.id, Candidate.deadline)
            .where(
                Candidate.deadline.is_not(None),
                Candidate.deadline < now - FINALIZE_GRACE,  # as finalize_one decides
                Candidate.finalized_at.is_(None),
            )
            .order_by(Candidate.deadline, Candidate.id)
        ).all()
    done = []
    for candidate_id, seen_deadline in due:
        with sessions() as session:
            candidate = session.scalar(
                select(Candidate)
                .where(Candidate.id == candidate_id)
                .options(selectinload(Candidate.submissions), selectinload(Candidate.assessment))
            )
            repo, times = candidate.repo, times_from_db(candidate)
        try:
            sha = finalize_one(reader, times, dispatch, now)
            outcome = f"final grading of {sha[:7]} dispatched" if sha else "nothing to dispatch"
        except GitHubNotFound as exc:  # the repository is gone: nothing will ever change
            outcome = f"not finalized: {exc}"
        except Exception as exc:  # noqa: BLE001 - tried again next round; the others go on
            echo(for_log(f"finalize {repo}: {exc.__class__.__name__}: {exc}; trying again later"))
            continue
        with sessions.begin() as session:
            marked = session.execute(
                update(Candidate)
                .where(
                    Candidate.id == candidate_id,
                    Candidate.deadline == seen_deadline,  # not extended meanwhile
                    Candidate.finalized_at.is_(None),
                )
                .values(finalized_at=now)
            ).rowcount
        if marked:
            done.append(repo)
            echo(for_log(f"finalize {repo}: {outcome}"))
        else:
            echo(for_log(f"finalize {repo}: the window changed meanwhile; left for later"))
    return done


@dataclass
class Job:
    """One periodic job: `run(now)` every `every` seconds (the first time at once)."""

    name: str
    every: float
    run: Callable[[datetime], object]
    next_at: float | None = None  # on the service's monotonic clock; None: at once


class Service:
    """Runs its jobs, each on its own interval, in one daemon thread; `run_due` runs those
    whose time has come (the thread's loop, and what tests call)."""

    def __init__(
        self,
        jobs: Iterable[Job] = (),
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.jobs: list[Job] = list(jobs)
        self.clock, self.monotonic, self.echo = clock, monotonic, echo
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mle-assess-service", daemon=True)

    def add(self, job: Job) -> Job:
        """Add a periodic job (before `start`)."""
        self.jobs.append(job)
        return job

    def run_due(self) -> list[str]:
        """Run every job that is due, in the order they were added; returns their names."""
        ran = []
        for job in self.jobs:
            started = self.monotonic()
            if job.next_at is not None and started < job.next_at:
                continue
            try:
                job.run(self.clock())
            except Exception as exc:  # noqa: BLE001 - the service keeps serving pages
                self.echo(for_log(f"{job.name}: {exc.__class__.__name__}: {exc}"))
            # Timed from the start: a slow round does not push the next one back.
            job.next_at = started + job.every
            ran.append(job.name)
        return ran

    def seconds_to_next(self) -> float:
        """How long until the next job is due (0 when one is due now)."""
        now = self.monotonic()
        due = [0.0 if j.next_at is None else j.next_at - now for j in self.jobs]
        return max(0.0, min(due, default=60.0))

    def start(self) -> Service:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            if self._stop.wait(min(self.seconds_to_next(), 60.0)):
                return


def board_jobs(
    sessions: sessionmaker,
    *,
    process: Callable[..., object] | None = None,
    app_gateway: Gateway | None = None,
    reader: Gateway | None = None,
    final_dispatch: Callable[[str, str, bool], None] | None = None,
    push_dispatch: Callable[[str, str], None] | None = None,
    echo: Callable[[str], None] = print,
) -> list[Job]:
    """The board service's jobs for what it was given: processing stored deliveries
    (`process(now, echo)`, as `create_app` makes it), the redelivery sweep (with the App's own
    gateway, which lists and redelivers its webhook's deliveries), finalizing (with a
    `reader` and a `final_dispatch`), write access at each window's close and extension
    (`deadline.enforce_access`, with the `reader`, which acts for the App on the
    organisation), expired invitations (`provision.refresh_invitations`, with the `reader`),
    and pushes a webhook never brought (`sweep.reconcile_pushes`, with the `reader` and a
    `push_dispatch`)."""
    jobs = []
    if process is not None:
        jobs.append(Job("deliveries", PROCESS_EVERY, lambda now: process(now, echo)))
    if app_gateway is not None:
        jobs.append(redelivery_job(sessions, app_gateway, echo=echo))
    if reader is not None and final_dispatch is not None:
        jobs.append(
            Job(
                "finalize",
                FINALIZE_EVERY,
                lambda now: finalize_due(sessions, reader, final_dispatch, now, echo),
            )
        )
    if reader is not None:
        jobs.append(
            Job(
                "access",
                deadline.EVERY.total_seconds(),
                lambda now: deadline.enforce_access(sessions, reader, now, echo),
            )
        )
    if reader is not None:
        jobs.append(
            Job(
                "invitations",
                INVITATIONS_EVERY.total_seconds(),
                lambda now: refresh_invitations(sessions, reader, echo, now),
            )
        )
    if reader is not None and push_dispatch is not None:
        jobs.append(
            Job(
                "reconcile",
                RECONCILE_EVERY.total_seconds(),
                lambda now: reconcile_pushes(sessions, reader, push_dispatch, now, echo),
            )
        )
    # More periodic jobs go here, or are added by the caller with Service.add.
    return jobs


def redelivery_job(
    sessions: sessionmaker,
    app_gateway: Gateway,
    *,
    every: float = REDELIVER_EVERY,
    echo: Callable[[str], None] = print,
) -> Job:
    """The redelivery sweep as a job. Its first round looks back as far as GitHub redelivers
    (3 days); each later one from a little before the previous round, since a redelivery that
    fails again is listed anew with its own time."""
    since: list[datetime] = []

    def run(now: datetime) -> None:
        start = since[0] if since else now - REDELIVERY_WINDOW
        redeliver_failed(sessions, app_gateway, now, since=start, echo=echo)
        since[:] = [now - timedelta(seconds=2 * every)]  # margin for clocks and slow lists

    return Job("redeliver", every, run)


def _succeeded(delivery: dict) -> bool:
    code = delivery.get("status_code")
    return isinstance(code, int) and 200 <= code < 300


def redeliver_failed(
    sessions: sessionmaker,
    app_gateway: Gateway,
    now: datetime,
    *,
    since: datetime | None = None,
    limit: int = REDELIVER_PER_ROUND,
    tries: int = REDELIVER_TRIES,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Have GitHub send again each delivery of our App's webhook (since `since`) that no
    attempt delivered and that we never stored, once per delivery per round, at most `limit`
    in a round and `tries` in all; returns their guids, oldest first.

    As GitHub's own example does, a delivery is failed when none of its attempts (the
    original and any redelivery, which share its guid) has an OK status. Before asking, the
    original delivery's `delivered_at` is recorded (`WebhookRedelivery`): processing times the
    redelivered event by it. A request GitHub refuses stops the round; asked again next one."""
    since = max(since or now - REDELIVERY_WINDOW, now - REDELIVERY_WINDOW)
    attempts: dict[str, list[dict]] = {}
    for delivery in app_gateway.hook_deliveries(since=since):
        if isinstance(delivery.get("guid"), str) and delivery["guid"]:
            attempts.setdefault(delivery["guid"], []).append(delivery)
    failed = {guid: tried for guid, tried in attempts.items() if not any(map(_succeeded, tried))}
    with sessions() as session:
        stored = _stored(session, list(failed))
        earlier = {r.guid: r for r in _records(session, list(failed))}
        # Asked for before, never arrived, and perhaps no longer in the list `since` covers.
        for record in session.scalars(
            select(WebhookRedelivery).where(
                WebhookRedelivery.requests < tries,
                WebhookRedelivery.guid.not_in(select(WebhookDelivery.delivery_id)),
            )
        ):
            earlier.setdefault(record.guid, record)
    wanted: dict[str, tuple[int, str, datetime]] = {}  # guid: (GitHub's id, event, original)
    resting: set[str] = set()  # asked for recently: asked again after a doubling wait
    for guid, record in earlier.items():
        if guid not in stored and record.requests < tries:
            wanted[guid] = (record.hook_delivery_id, record.event, record.delivered_at)
            if record.requested_at is not None and record.requests > 0:
                wait = timedelta(seconds=REDELIVER_EVERY * 2 ** (record.requests - 1))
                if now - utc(record.requested_at) < wait - timedelta(seconds=1):
                    resting.add(guid)
    for guid, tried in failed.items():
        if guid in stored or (guid in earlier and earlier[guid].requests >= tries):
            continue
        timed = [d for d in tried if isinstance(d.get("delivered_at"), datetime)]
        if not timed:  # no time to open a window at: left alone (GitHub always gives one)
            continue
        originals = [d for d in timed if not d.get("redelivery")] or timed
        first = min(originals, key=lambda d: d["delivered_at"])
        known = wanted.get(guid)
        delivered_at = first["delivered_at"]
        if known is not None:
            delivered_at = min(utc(known[2]), delivered_at)
        wanted[guid] = (first["id"], str(first.get("event") or "")[:50], delivered_at)
    _remember(sessions, wanted)
    done: list[str] = []
    due = [item for item in wanted.items() if item[0] not in resting]
    for guid, (hook_id, event, delivered_at) in sorted(due, key=lambda item: utc(item[1][2]))[
        :limit
    ]:
        with sessions.begin() as session:  # recorded before GitHub is asked
            record = session.scalar(select(WebhookRedelivery).where(WebhookRedelivery.guid == guid))
            if record is None:
                record = WebhookRedelivery(guid=guid, event=event, requests=0)
                session.add(record)
            record.hook_delivery_id, record.delivered_at = hook_id, utc(delivered_at)
            record.requested_at, record.requests = now, record.requests + 1
            record.error = None
        try:
            app_gateway.redeliver_hook(hook_id)
        except GitHubError as exc:
            with sessions.begin() as session:
                record = session.scalar(
                    select(WebhookRedelivery).where(WebhookRedelivery.guid == guid)
                )
                record.error = f"{exc.__class__.__name__}: {exc}"[:500]
            echo(for_log(f"redeliver {guid}: {exc}; asked again next round"))
            break
        done.append(guid)
        echo(for_log(f"redeliver {guid} ({event}, delivered {utc(delivered_at):%H:%M:%S})"))
    return done


def _remember(sessions: sessionmaker, wanted: dict[str, tuple[int, str, datetime]]) -> None:
    """Record every failed delivery found, asked for this round or not: the next rounds read
    these records whatever their look-back, so one past this round's limit is never lost."""
    with sessions.begin() as session:
        known = {r.guid: r for r in _records(session, list(wanted))}
        for guid, (hook_id, event, delivered_at) in wanted.items():
            record = known.get(guid)
            if record is None:
                session.add(
                    WebhookRedelivery(
                        guid=guid,
                        event=event,
                        requests=0,
                        hook_delivery_id=hook_id,
                        delivered_at=utc(delivered_at),
                    )
                )
            else:
                record.hook_delivery_id, record.delivered_at = hook_id, utc(delivered_at)


def _stored(session: Session, guids: list[str]) -> set[str]:
    """Which of `guids` the receiver stored (in chunks: databases bound their parameters)."""
    found: set[str] = set()
    for i in range(0, len(guids), 500):
        chunk = guids[i : i + 500]
        found.update(
            session.scalars(
                select(WebhookDelivery.delivery_id).where(WebhookDelivery.delivery_id.in_(chunk))
            )
        )
    return found


def _records(session: Session, guids: list[str]) -> list[WebhookRedelivery]:
    """The redelivery records of `guids`."""
    found: list[WebhookRedelivery] = []
    for i in range(0, len(guids), 500):
        chunk = guids[i : i + 500]
        found.extend(
            session.scalars(select(WebhookRedelivery).where(WebhookRedelivery.guid.in_(chunk)))
        )
    return found
