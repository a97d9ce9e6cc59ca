"""GitHub webhooks: the receiver (a Flask blueprint mounted by the board) stores each delivery
and answers at once; the board service processes stored deliveries afterwards.

GitHub waits 10 seconds for a 2XX, then records the delivery as failed and never sends it
again by itself (docs.github.com, "Best practices for using webhooks" and "Handling failed
webhook deliveries"). So the request does no GitHub call and no grading work: it only stores.

`POST /webhooks/github`:
- The body must carry a valid `X-Hub-Signature-256` (HMAC-SHA256 with the webhook secret);
  otherwise 401, and nothing is stored.
- Bodies up to GitHub's payload cap of 25 MB are taken ("Webhook events and payloads",
  "Payload cap"); a larger one is 413. The read is bounded, also for a chunked body.
- A delivery id already taken in (`X-GitHub-Delivery`: a redelivery or a replay) is answered
  200 as a duplicate and changes nothing.
- Anything else signed is stored with its raw body and receipt time, and answered 202.

`process_deliveries` (run by the board service every few seconds) takes stored, unprocessed
deliveries in receipt order, each in a transaction of its own:
- `push` to a known candidate repository's main branch records the submission with trusted
  times (`repository.pushed_at` from GitHub, never later than the receipt), never the
  commit's own date, and asks for an official grading (`queue.request_grading`: the newest
  push wins, the rest wait). Gradings are dispatched after the commit.
- `member` with action `added` for the candidate opens their window, at the receipt time.
- The receipt time stays the event's time however late processing runs; for a delivery the
  service had GitHub redeliver (`mle_assess.db.WebhookRedelivery`), it is the original
  delivery's time, since a redelivered `member` payload carries no time of its own.
- A failure rolls the delivery's transaction back and leaves it for the next round; after
  `MAX_ATTEMPTS` failures it is marked with its error and not tried again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from flask import Blueprint, jsonify, request
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mle_assess.board.summary import refresh
from mle_assess.db.models import (
    Candidate,
    GradingRequest,
    Submission,
    WebhookDelivery,
    WebhookRedelivery,
)
from mle_assess.errors import GitHubError
from mle_assess.github import queue
from mle_assess.logsafe import for_log
from mle_assess.timebox import utc

# GitHub caps payloads at 25 MB and delivers nothing larger ("Webhook events and payloads").
MAX_BODY = 25 * 1024 * 1024
MAX_ATTEMPTS = 5  # processing failures before a delivery is marked with its error
MAIN_REF = "refs/heads/main"
ZERO_SHA = "0" * 40
SHA = re.compile(r"[0-9a-f]{40}")


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is `sha256=` and the HMAC-SHA256 of `body` with `secret`."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def create_blueprint(
    *,
    secret: str,
    sessions: sessionmaker,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Blueprint:
    """The receiver, storing deliveries through `sessions` with `clock`'s receipt time."""
    blueprint = Blueprint("github_webhook", __name__)

    @blueprint.post("/webhooks/github")
    def receive():  # noqa: ANN202 - a Flask view
        if (request.content_length or 0) > MAX_BODY:
            return jsonify(error="body too large"), 413
        body = request.stream.read(MAX_BODY + 1)  # bounded, also for a chunked body
        if len(body) > MAX_BODY:
            return jsonify(error="body too large"), 413
        if not signature_ok(secret, body, request.headers.get("X-Hub-Signature-256")):
            return jsonify(error="bad or missing signature"), 401
        delivery = request.headers.get("X-GitHub-Delivery", "")
        event = request.headers.get("X-GitHub-Event", "")
        if not delivery or not event or len(delivery) > 100:
            return jsonify(error="X-GitHub-Delivery and X-GitHub-Event are required"), 400
        # Every payload GitHub sends is a JSON object. Only the first byte is looked at here:
        # parsing 25 MB takes time the answer must not wait for; processing parses it.
        if body.lstrip()[:1] != b"{":
            return jsonify(error="the body is not a JSON object"), 400
        now = clock()
        try:
            with sessions.begin() as session:
                if _seen(session, delivery):
                    return jsonify(status="duplicate delivery: already received"), 200
                session.add(
                    WebhookDelivery(
                        delivery_id=delivery,
                        event=event[:50],
                        received_at=now,
                        body=body,
                        outcome="",
                    )
                )
        except IntegrityError:
            # Two copies of a delivery arriving at the same moment: the second to commit
            # breaks the unique delivery id, and is a duplicate, not a server error.
            return jsonify(status="duplicate delivery: already received"), 200
        return jsonify(status="stored for processing"), 202

    return blueprint


def _seen(session: Session, delivery: str) -> bool:
    """Whether a delivery with this id was already stored."""
    found = session.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.delivery_id == delivery)
    )
    return found is not None


def process_deliveries(
    sessions: sessionmaker,
    dispatch: queue.Dispatch,
    now: datetime,
    *,
    ignore_pushers: Iterable[str] = (),
    limit: int = 500,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Process up to `limit` stored deliveries not processed yet, oldest receipt first, each in
    a transaction of its own, then dispatch the gradings they asked for; returns the outcomes.

    Pushes by `ignore_pushers` (our App's bot, from `Gateway.login()`) are not the candidate's
    work. `now` is the processing time (grading queue, board summary); the event's own time is
    its receipt (or the original delivery's, for one redelivered by the sweep)."""
    ignored = frozenset(login.lower() for login in ignore_pushers)
    with sessions() as session:
        pending = session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.processed_at.is_(None))
            .order_by(WebhookDelivery.received_at, WebhookDelivery.id)
            .limit(limit)
        ).all()
    outcomes = []
    for row_id in pending:
        wanted: list[tuple[str, str]] = []  # gradings to dispatch once committed
        try:
            with sessions.begin() as session:
                outcome = _process_one(session, row_id, now, wanted.append, ignored)
        except Exception as exc:  # noqa: BLE001 - one delivery's failure stops no other
            outcome = _failed(sessions, row_id, now, f"{exc.__class__.__name__}: {exc}")
            echo(for_log(f"webhook delivery {row_id}: {outcome}"))
            outcomes.append(outcome)
            continue
        if outcome is None:  # processed meanwhile by another worker
            continue
        outcomes.append(outcome)
        # Dispatched after the commit, outside the transaction: a slow GitHub never holds the
        # database, and a dispatch that fails leaves the request waiting for the sweep.
        for repo, sha in wanted:
            _dispatch_recorded(sessions, dispatch, repo, sha)
    return outcomes


def _process_one(
    session: Session,
    row_id: int,
    now: datetime,
    record: Callable[[tuple[str, str]], None],
    ignored: frozenset[str],
) -> str | None:
    """Process one stored delivery in `session`'s transaction; None if it is already done."""
    # Claimed by marking it processed first: a second worker finds nothing to claim, and a
    # crash before the commit leaves it unprocessed for the next round.
    claimed = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == row_id, WebhookDelivery.processed_at.is_(None))
        .values(processed_at=now)
    ).rowcount
    if not claimed:
        return None
    row = session.get(WebhookDelivery, row_id)
    at = event_time(session, row)
    try:
        payload = json.loads(row.body or b"")
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        # Never processable: marked with the error at once, not tried again.
        row.outcome, row.error = "failed", "the body is not a JSON object"
        return row.outcome
    outcome = handle(
        session,
        row.event,
        payload,
        at,
        lambda repo, sha: record((repo, sha)),
        ignored,
        now=now,
    )
    row.outcome, row.error = outcome[:200], None
    row.body = None  # done with: bodies can be large
    return outcome


def _failed(sessions: sessionmaker, row_id: int, now: datetime, error: str) -> str:
    """Count a failed processing of the delivery; after MAX_ATTEMPTS it is marked failed with
    its error and left alone (its body kept, to look into)."""
    with sessions.begin() as session:
        row = session.get(WebhookDelivery, row_id)
        if row is None:
            return f"failed ({error[:200]})"
        row.attempts += 1
        row.error = error[:500]
        if row.attempts >= MAX_ATTEMPTS:
            row.processed_at, row.outcome = now, "failed"
            return f"failed for good after {row.attempts} attempts: {error[:200]}"
        return f"failed (attempt {row.attempts} of {MAX_ATTEMPTS}; tried again): {error[:200]}"


def event_time(session: Session, row: WebhookDelivery) -> datetime:
    """When the delivery's event happened as far as GitHub tells us: its receipt, or, for one
    the sweep had redelivered, the original delivery's time (never later than the receipt)."""
    received = utc(row.received_at)
    original = session.scalar(
        select(WebhookRedelivery.delivered_at).where(WebhookRedelivery.guid == row.delivery_id)
    )
    return min(received, utc(original)) if original is not None else received


def _dispatch_recorded(
    sessions: sessionmaker, dispatch: queue.Dispatch, repo: str, sha: str
) -> None:
    """Start a grading that processing recorded as dispatched; put it back to waiting if
    GitHub refuses for now (the sweep will retry it)."""
    try:
        dispatch(repo, sha)
    except GitHubError:
        with sessions.begin() as session:
            req = session.scalar(
                select(GradingRequest)
                .join(Candidate)
                .where(func.lower(Candidate.repo) == repo.lower(), GradingRequest.sha == sha)
            )
            if req is not None:
                req.state, req.dispatched_at = "waiting", None


def handle(
    session: Session,
    event: str,
    payload: dict,
    at: datetime,
    dispatch: queue.Dispatch,
    ignored: frozenset[str] = frozenset(),
    *,
    now: datetime | None = None,
) -> str:
    """Act on one verified, new delivery whose event happened at `at` (processed at `now`,
    by default the same); returns what was done."""
    now = now or at
    if event == "ping":
        return "pong"
    if event == "push":
        return _push(session, payload, at, now, dispatch, ignored)
    if event == "member":
        return _member(session, payload, at, now)
    return f"ignored: {event[:40]} events are not used"


def _candidate(session: Session, payload: dict) -> Candidate | None:
    repo = payload.get("repository") or {}
    full_name = repo.get("full_name") if isinstance(repo, dict) else None
    # A name with NUL is no repository's (and PostgreSQL's text cannot hold it).
    if not isinstance(full_name, str) or "\x00" in full_name:
        return None
    return session.scalar(select(Candidate).where(func.lower(Candidate.repo) == full_name.lower()))


# Our App hears about every repository it is installed on (the template, the assessment
# repository): those deliveries are answered and stored like any other, then ignored here.
NOT_A_CANDIDATE = "ignored: not a candidate repository of this assessment"


def _push(
    session: Session,
    payload: dict,
    at: datetime,
    now: datetime,
    dispatch: queue.Dispatch,
    ignored: frozenset[str],
) -> str:
    candidate = _candidate(session, payload)
    if candidate is None:
        return NOT_A_CANDIDATE
    if payload.get("ref") != MAIN_REF:
        return "ignored: not a push to main"
    sender = payload.get("sender") or {}
    if isinstance(sender, dict) and str(sender.get("login", "")).lower() in ignored:
        return "ignored: a push by MLE Assess itself (provisioning's start file)"
    sha = payload.get("after")
    if not isinstance(sha, str) or sha == ZERO_SHA:
        return "ignored: no commit (a deleted branch)"
    if not SHA.fullmatch(sha):
        return "ignored: not a commit SHA"
    pushed_at = _pushed_at(payload, at)
    submission = session.scalar(
        select(Submission).where(Submission.candidate_id == candidate.id, Submission.sha == sha)
    )
    if submission is None:
        session.add(
            Submission(candidate_id=candidate.id, sha=sha, pushed_at=pushed_at, received_at=at)
        )
        session.flush()
    elif submission.pushed_at is None or utc(submission.pushed_at) < pushed_at:
        # The same commit pushed again (a force-push back to it): main is that commit as of
        # this push, so this is its time now.
        submission.pushed_at = pushed_at
    state = queue.request_grading(session, candidate, sha, pushed_at, dispatch, now)
    session.flush()
    session.refresh(candidate)
    refresh(candidate, now)
    return f"push recorded; grading {state}"


def _pushed_at(payload: dict, at: datetime) -> datetime:
    """GitHub's own time for the push (`repository.pushed_at`: Unix seconds in push payloads),
    never later than the receipt `at`; the receipt time when it is missing."""
    value = (payload.get("repository") or {}).get("pushed_at")
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            return at
    except (ValueError, OverflowError, OSError):
        return at
    return min(moment, at) if moment.tzinfo else at


def _member(session: Session, payload: dict, at: datetime, now: datetime) -> str:
    candidate = _candidate(session, payload)
    if candidate is None:
        return NOT_A_CANDIDATE
    member = payload.get("member") or {}
    login = member.get("login") if isinstance(member, dict) else None
    if payload.get("action") != "added" or not isinstance(login, str):
        return "ignored: not a collaborator added"
    if login.lower() != candidate.login.lower():
        return "ignored: not the candidate"
    if candidate.started_at is not None:
        return "ignored: the window is already open"
    # To the second, as GitHub gives push times (`repository.pushed_at`): a push made in the
    # same second as the acceptance is inside the window, not before it.
    opened = at.replace(microsecond=0)
    candidate.started_at = opened
    minutes = candidate.assessment.window_minutes + candidate.extension_minutes
    candidate.deadline = opened + timedelta(minutes=minutes)
    refresh(candidate, now)
    return "window opened"
