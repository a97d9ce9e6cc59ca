"""The GitHub webhook receiver: a Flask blueprint, mounted by the board service.

`POST /webhooks/github`:
- The body must carry a valid `X-Hub-Signature-256` (HMAC-SHA256 with the webhook secret);
  otherwise 401, and nothing is stored.
- A delivery id already taken in (`X-GitHub-Delivery`, a redelivery or a replay) is answered
  200 and changes nothing.
- `push` to a known candidate repository's main branch records the submission with trusted
  times (the receipt time, and `repository.pushed_at` from GitHub), never the commit's own
  date, and asks for an official grading (`queue.request_grading`: the newest push wins, the
  rest wait). A push to an unknown repository gets 404 and nothing is stored.
- `member` with action `added` for the candidate opens their window, at the receipt time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Blueprint, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mle_assess.board.summary import refresh
from mle_assess.db.models import Candidate, GradingRequest, Submission, WebhookDelivery
from mle_assess.errors import GitHubError
from mle_assess.github import queue
from mle_assess.timebox import utc

MAX_BODY = 5 * 1024 * 1024
MAIN_REF = "refs/heads/main"
ZERO_SHA = "0" * 40
SHA = re.compile(r"[0-9a-f]{40}")


class Refused(Exception):
    """A delivery to turn away with nothing stored."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
    dispatch: queue.Dispatch,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ignore_pushers: tuple[str, ...] = ("mle-assess[bot]",),
) -> Blueprint:
    """The receiver, storing through `sessions` and dispatching gradings with `dispatch`.
    Pushes by `ignore_pushers` (our App's bot) are not the candidate's work."""
    ignored = frozenset(login.lower() for login in ignore_pushers)
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
        try:
            payload = json.loads(body)
        except ValueError:
            return jsonify(error="the body is not JSON"), 400
        if not isinstance(payload, dict):
            return jsonify(error="the body is not a JSON object"), 400
        now = clock()
        # Two copies of a delivery, or two pushes of one commit, can arrive at the same moment:
        # the second to commit breaks a unique constraint, and is handled again from the top,
        # where it finds what the first stored.
        for attempt in range(2):
            wanted: list[tuple[str, str]] = []  # gradings to dispatch once stored
            try:
                with sessions.begin() as session:
                    seen = session.scalar(
                        select(WebhookDelivery.id).where(WebhookDelivery.delivery_id == delivery)
                    )
                    if seen is not None:
                        return jsonify(status="duplicate delivery: already handled"), 200
                    outcome = handle(
                        session,
                        event,
                        payload,
                        now,
                        lambda r, sha, wanted=wanted: wanted.append((r, sha)),
                        ignored,
                    )
                    session.add(
                        WebhookDelivery(
                            delivery_id=delivery,
                            event=event[:50],
                            received_at=now,
                            outcome=outcome,
                        )
                    )
                break
            except Refused as exc:
                return jsonify(error=str(exc)), exc.status
            except IntegrityError:
                if attempt:
                    raise
        # Dispatched after the commit, outside the transaction: a slow GitHub never holds the
        # database, and a dispatch that fails leaves the request waiting for the sweep.
        for repo, sha in wanted:
            _dispatch_recorded(sessions, dispatch, repo, sha)
        return jsonify(status=outcome), 200

    return blueprint


def _dispatch_recorded(
    sessions: sessionmaker, dispatch: queue.Dispatch, repo: str, sha: str
) -> None:
    """Start a grading the receiver recorded as dispatched; put it back to waiting if GitHub
    refuses for now (the sweep will retry it)."""
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
    now: datetime,
    dispatch: queue.Dispatch,
    ignored: frozenset[str] = frozenset(),
) -> str:
    """Act on one verified, new delivery; returns what was done."""
    if event == "ping":
        return "pong"
    if event == "push":
        return _push(session, payload, now, dispatch, ignored)
    if event == "member":
        return _member(session, payload, now)
    return f"ignored: {event[:40]} events are not used"


def _candidate(session: Session, payload: dict) -> Candidate:
    repo = payload.get("repository") or {}
    full_name = repo.get("full_name") if isinstance(repo, dict) else None
    candidate = None
    # A name with NUL is no repository's (and PostgreSQL's text cannot hold it).
    if isinstance(full_name, str) and "\x00" not in full_name:
        candidate = session.scalar(
            select(Candidate).where(func.lower(Candidate.repo) == full_name.lower())
        )
    if candidate is None:
        raise Refused(404, "not a candidate repository of this assessment")
    return candidate


def _push(
    session: Session,
    payload: dict,
    now: datetime,
    dispatch: queue.Dispatch,
    ignored: frozenset[str],
) -> str:
    candidate = _candidate(session, payload)
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
    pushed_at = _pushed_at(payload, now)
    submission = session.scalar(
        select(Submission).where(Submission.candidate_id == candidate.id, Submission.sha == sha)
    )
    if submission is None:
        session.add(
            Submission(candidate_id=candidate.id, sha=sha, pushed_at=pushed_at, received_at=now)
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


def _pushed_at(payload: dict, now: datetime) -> datetime:
    """GitHub's own time for the push (`repository.pushed_at`: Unix seconds in push payloads),
    never later than the receipt; the receipt time when it is missing."""
    value = (payload.get("repository") or {}).get("pushed_at")
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            return now
    except (ValueError, OverflowError, OSError):
        return now
    return min(moment, now) if moment.tzinfo else now


def _member(session: Session, payload: dict, now: datetime) -> str:
    candidate = _candidate(session, payload)
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
    opened = now.replace(microsecond=0)
    candidate.started_at = opened
    minutes = candidate.assessment.window_minutes + candidate.extension_minutes
    candidate.deadline = opened + timedelta(minutes=minutes)
    refresh(candidate, now)
    return "window opened"
