"""The webhook receiver and the processing after it: signed deliveries only, each stored once
and answered at once; processing (what the board service runs) records pushes with trusted
times, opens the candidate's window at the invitation's acceptance, and queues gradings, with
the receipt time kept however late it runs. A failure leaves a delivery for the next round;
one that never succeeds is marked with its error."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from mle_assess.db import (
    Assessment,
    Candidate,
    GradingRequest,
    Result,
    Submission,
    WebhookDelivery,
    connect,
)
from mle_assess.db.models import WebhookRedelivery
from mle_assess.github import queue
from mle_assess.github import webhook as receiver
from mle_assess.github.webhook import MAX_ATTEMPTS, MAX_BODY, create_blueprint, process_deliveries

SECRET = "webhook-secret-for-tests"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
REPO = "acme/mle-alice"
# Our App's bot, as `Gateway.login()` reads it from GET /app: never a hard-coded default.
BOT = "acme-hiring-grader[bot]"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Env:
    """The receiver on a test client, its database, what it dispatched, and its clock."""

    def __init__(self, sessions, clock: Clock) -> None:
        self.sessions, self.clock = sessions, clock
        self.dispatched: list[tuple[str, str]] = []
        self.dispatch = lambda repo, sha: self.dispatched.append((repo, sha))
        self.lines: list[str] = []
        app = Flask("test")
        app.register_blueprint(create_blueprint(secret=SECRET, sessions=sessions, clock=clock))
        self.client = app.test_client()

    def process(self, at: datetime | None = None) -> list[str]:
        """What the board service's job does, at the clock's time (or `at`)."""
        return process_deliveries(
            self.sessions,
            self.dispatch,
            at or self.clock.now,
            ignore_pushers=(BOT,),
            echo=self.lines.append,
        )

    def __iter__(self):
        return iter((self.client, self.sessions, self.dispatched, self.clock))


@pytest.fixture
def env(db_url):
    _, sessions = connect(db_url)
    with sessions.begin() as s:
        assessment = Assessment(name="round-1", version="0.1.0", window_minutes=90)
        s.add(assessment)
        s.flush()
        s.add(Candidate(assessment_id=assessment.id, name="Alice", login="alice", repo=REPO))
    return Env(sessions, Clock())


def send(client, event, payload, *, delivery="d-1", secret=SECRET, signature=None, body=None):
    body = json.dumps(payload).encode() if body is None else body
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if signature != "none":
        headers["X-Hub-Signature-256"] = signature or f"sha256={digest}"
    return client.post("/webhooks/github", data=body, headers=headers)


def push(sha, *, repo=REPO, pushed_at=None, ref="refs/heads/main"):
    return {
        "ref": ref,
        "after": sha,
        "repository": {"full_name": repo, "pushed_at": int((pushed_at or NOW).timestamp())},
        # A candidate controls the commit's own date: it must never be used.
        "head_commit": {"id": sha, "timestamp": "2020-01-01T00:00:00Z"},
    }


def counts(sessions):
    with sessions() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(m))
            for m in (WebhookDelivery, Submission, GradingRequest)
        )


def outcomes(sessions):
    with sessions() as s:
        return {d.delivery_id: d.outcome for d in s.scalars(select(WebhookDelivery))}


def added(login="alice"):
    return {"action": "added", "member": {"login": login}, "repository": {"full_name": REPO}}


@pytest.mark.parametrize("signature", ["none", "sha256=" + "0" * 64, "sha1=abc", "sha256=not-hex"])
def test_bad_or_missing_signature_is_refused_with_nothing_stored(env, signature):
    client, sessions, dispatched, _ = env
    response = send(client, "push", push("a" * 40), signature=signature)
    assert response.status_code == 401
    assert env.process() == []
    assert counts(sessions) == (0, 0, 0) and dispatched == []


def test_wrong_secret_is_refused(env):
    client, sessions, dispatched, _ = env
    assert send(client, "push", push("a" * 40), secret="another").status_code == 401
    assert env.process() == []
    assert counts(sessions) == (0, 0, 0) and dispatched == []


def test_the_receiver_only_stores_and_processing_does_the_rest(env):
    client, sessions, dispatched, _ = env
    response = send(client, "push", push("a" * 40), delivery="d-1")
    assert response.status_code == 202 and response.json["status"] == "stored for processing"
    # Stored with its raw body and receipt time; nothing recorded, nothing dispatched yet.
    assert counts(sessions) == (1, 0, 0) and dispatched == []
    with sessions() as s:
        row = s.scalar(select(WebhookDelivery))
        assert row.processed_at is None and row.outcome == ""
        assert json.loads(row.body)["after"] == "a" * 40
        assert row.received_at.replace(tzinfo=UTC) == NOW
    assert env.process() == ["push recorded; grading dispatched"]
    assert counts(sessions) == (1, 1, 1) and dispatched == [(REPO, "a" * 40)]
    with sessions() as s:
        row = s.scalar(select(WebhookDelivery))
        assert row.processed_at is not None and row.body is None  # the body is let go
    assert env.process() == [] and len(dispatched) == 1  # processed once


def test_push_records_trusted_time_and_dispatches_once_even_when_replayed(env):
    client, sessions, dispatched, _ = env
    pushed = NOW - timedelta(seconds=3)
    first = send(client, "push", push("a" * 40, pushed_at=pushed), delivery="d-7")
    assert env.process() == ["push recorded; grading dispatched"]
    again = send(client, "push", push("a" * 40, pushed_at=pushed), delivery="d-7")
    assert first.status_code == 202
    assert again.status_code == 200 and "duplicate" in again.json["status"]
    assert env.process() == []
    assert dispatched == [(REPO, "a" * 40)]
    with sessions() as s:
        sub = s.scalar(select(Submission))
        assert sub.pushed_at.replace(tzinfo=UTC) == pushed
        assert sub.received_at.replace(tzinfo=UTC) == NOW
    assert counts(sessions) == (1, 1, 1)


def test_processed_late_an_event_keeps_its_receipt_time(env):
    """The board service may process a delivery long after it arrived: the push's receipt
    and the window's opening are the receipt's, not the processing's."""
    client, sessions, _, clock = env
    send(client, "member", added(), delivery="m1")
    clock.now = NOW + timedelta(minutes=5)
    send(client, "push", push("a" * 40, pushed_at=clock.now + timedelta(hours=1)), delivery="p1")
    later = NOW + timedelta(hours=2)
    assert env.process(at=later) == ["window opened", "push recorded; grading dispatched"]
    with sessions() as s:
        candidate = s.scalar(select(Candidate))
        assert candidate.started_at.replace(tzinfo=UTC) == NOW
        sub = s.scalar(select(Submission))
        # A pushed_at later than the receipt (a lying clock) is capped at the receipt.
        assert sub.pushed_at.replace(tzinfo=UTC) == NOW + timedelta(minutes=5)
        assert sub.received_at.replace(tzinfo=UTC) == NOW + timedelta(minutes=5)
        assert candidate.official_sha == "a" * 40  # inside the window opened at NOW


def test_unknown_repository_is_stored_and_ignored(env):
    # Our App hears about every repository it is installed on: a delivery for one that is not
    # a candidate's is answered (a 4xx would make GitHub record a failure to redeliver) and
    # records nothing.
    client, sessions, dispatched, _ = env
    response = send(client, "push", push("a" * 40, repo="acme/somebody-else"))
    assert response.status_code == 202
    assert env.process() == [receiver.NOT_A_CANDIDATE]
    assert counts(sessions) == (1, 0, 0) and dispatched == []


def test_pushes_by_our_app_are_not_graded(env):
    client, sessions, dispatched, _ = env
    payload = push("b" * 40) | {"sender": {"login": BOT, "type": "Bot"}}
    send(client, "push", payload)
    assert "ignored: a push by MLE Assess itself" in env.process()[0]
    assert dispatched == [] and counts(sessions) == (1, 0, 0)


def test_no_bot_login_is_assumed(env):
    """The old hard-coded "mle-assess[bot]" is someone else's App on github.com: its pushes
    are not filtered unless GitHub says that is our bot."""
    client, sessions, dispatched, _ = env
    payload = push("b" * 40) | {"sender": {"login": "mle-assess[bot]", "type": "Bot"}}
    send(client, "push", payload)
    assert env.process() == ["push recorded; grading dispatched"]
    assert dispatched == [(REPO, "b" * 40)]


def test_pushes_to_other_branches_are_not_graded(env):
    client, sessions, dispatched, _ = env
    assert send(client, "push", push("b" * 40, ref="refs/heads/feedback")).status_code == 202
    assert env.process() == ["ignored: not a push to main"]
    assert dispatched == [] and counts(sessions) == (1, 0, 0)


def test_newest_push_wins_while_a_grading_is_in_flight(env):
    client, sessions, dispatched, clock = env
    send(client, "push", push("a" * 40, pushed_at=NOW), delivery="1")
    clock.now = NOW + timedelta(minutes=1)
    send(client, "push", push("b" * 40, pushed_at=clock.now), delivery="2")
    clock.now = NOW + timedelta(minutes=2)
    send(client, "push", push("c" * 40, pushed_at=clock.now), delivery="3")
    env.process()  # all three at once, in the order they were received
    assert dispatched == [(REPO, "a" * 40)]
    with sessions.begin() as s:
        states = {r.sha[0]: r.state for r in s.scalars(select(GradingRequest))}
        assert states == {"a": "dispatched", "b": "superseded", "c": "waiting"}
        candidate = s.scalar(select(Candidate))
        sub = s.scalar(select(Submission).where(Submission.sha == "a" * 40))
        s.add(
            Result(
                submission_id=sub.id,
                grader_version="v",
                scaled_score=400,
                raw_score=1.0,
                isolation="full",
                data={},
            )
        )
        s.flush()
        assert queue.release(
            s, candidate, lambda r, sha: dispatched.append((r, sha)), clock.now
        ) == ("c" * 40)
    assert dispatched == [(REPO, "a" * 40), (REPO, "c" * 40)]


def test_member_added_opens_the_window_once(env):
    client, sessions, _, clock = env
    send(client, "member", added("Alice"), delivery="m1")
    assert env.process() == ["window opened"]
    clock.now = NOW + timedelta(minutes=30)
    send(client, "member", added("Alice"), delivery="m2")
    assert "already open" in env.process()[0]
    with sessions() as s:
        candidate = s.scalar(select(Candidate))
        assert candidate.started_at.replace(tzinfo=UTC) == NOW
        assert candidate.deadline.replace(tzinfo=UTC) == NOW + timedelta(minutes=90)


def test_someone_else_added_does_not_open_the_window(env):
    client, sessions, _, _ = env
    send(client, "member", added("mallory"))
    assert env.process() == ["ignored: not the candidate"]
    with sessions() as s:
        assert s.scalar(select(Candidate)).started_at is None


def test_a_redelivered_member_event_opens_the_window_at_the_original_delivery(env):
    """A redelivery has no time of its own: the sweep recorded the original delivery's time
    before asking for it, and the window opens then, not when the copy arrived."""
    client, sessions, _, clock = env
    original = NOW - timedelta(minutes=12, microseconds=-400_000)
    with sessions.begin() as s:
        s.add(
            WebhookRedelivery(
                guid="m-again", hook_delivery_id=7, event="member", delivered_at=original
            )
        )
        s.add(WebhookRedelivery(guid="p-again", hook_delivery_id=8, event="push", delivered_at=NOW))
    send(client, "member", added(), delivery="m-again")
    clock.now = NOW + timedelta(minutes=20)
    # The push's own pushed_at (NOW + 1 s) is later than its original delivery: capped there.
    send(client, "push", push("e" * 40, pushed_at=NOW + timedelta(seconds=1)), delivery="p-again")
    env.process()
    with sessions() as s:
        candidate = s.scalar(select(Candidate))
        assert candidate.started_at.replace(tzinfo=UTC) == original.replace(microsecond=0)
        sub = s.scalar(select(Submission))
        assert sub.pushed_at.replace(tzinfo=UTC) == NOW
        assert sub.received_at.replace(tzinfo=UTC) == NOW


def test_malformed_bodies_are_refused(env):
    client, sessions, _, _ = env
    response = send(client, "push", None, body=b"[not json", delivery="x")
    assert response.status_code == 400 and counts(sessions) == (0, 0, 0)


def test_a_body_that_is_not_json_is_marked_with_its_error_and_not_tried_again(env):
    client, sessions, dispatched, _ = env
    assert send(client, "push", None, body=b"{not json", delivery="x").status_code == 202
    assert env.process() == ["failed"]
    with sessions() as s:
        row = s.scalar(select(WebhookDelivery))
        assert row.error == "the body is not a JSON object" and row.processed_at is not None
    assert env.process() == [] and counts(sessions) == (1, 0, 0) and dispatched == []


def test_bodies_up_to_githubs_25_mb_cap_are_taken(env):
    """GitHub delivers payloads of up to 25 MB: one that size is stored and processed; one a
    byte over it is refused without being read in full, and nothing is stored."""
    client, sessions, dispatched, _ = env
    payload = push("f" * 40) | {"padding": ""}
    base = len(json.dumps(payload).encode())
    big = json.dumps(payload | {"padding": "x" * (MAX_BODY - base)}).encode()
    assert len(big) == MAX_BODY == 25 * 1024 * 1024
    assert send(client, "push", None, body=big, delivery="big").status_code == 202
    assert send(client, "push", None, body=big + b" ", delivery="huge").status_code == 413
    assert env.process() == ["push recorded; grading dispatched"]
    assert counts(sessions) == (1, 1, 1) and dispatched == [(REPO, "f" * 40)]


def test_a_dispatch_github_refuses_leaves_the_push_waiting_for_the_sweep(env):
    from mle_assess.errors import GitHubUnavailable

    def refuse(repo, sha):
        raise GitHubUnavailable("GitHub is down")

    env.dispatch = refuse
    response = send(env.client, "push", push("a" * 40))
    assert response.status_code == 202
    env.process()
    with env.sessions() as s:
        (req,) = s.scalars(select(GradingRequest))
        assert req.state == "waiting" and req.dispatched_at is None
        assert s.scalar(select(func.count()).select_from(Submission)) == 1


def test_a_failure_midway_leaves_the_delivery_for_the_next_round(env, monkeypatch):
    """An error while processing rolls the delivery's transaction back (no half-recorded
    push) and leaves it to be processed again; the deliveries after it go on meanwhile."""
    client, sessions, dispatched, _ = env
    send(client, "push", push("a" * 40), delivery="p1")
    send(client, "member", added(), delivery="m1")
    real = queue.request_grading

    def crash(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(queue, "request_grading", crash)
    first = env.process()
    assert first[0].startswith("failed (attempt 1 of 5; tried again): RuntimeError")
    assert first[1] == "window opened"
    assert counts(sessions) == (2, 0, 0) and dispatched == []
    assert any("the database went away" in line for line in env.lines)
    monkeypatch.setattr(queue, "request_grading", real)
    assert env.process() == ["push recorded; grading dispatched"]
    assert counts(sessions) == (2, 1, 1) and dispatched == [(REPO, "a" * 40)]
    with sessions() as s:
        row = s.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == "p1"))
        assert row.attempts == 1 and row.error is None


def test_a_delivery_that_never_succeeds_is_marked_with_its_error(env, monkeypatch):
    client, sessions, dispatched, _ = env
    send(client, "push", push("a" * 40), delivery="p1")

    def broken(*args, **kwargs):
        raise ValueError("cannot make sense of this payload")

    monkeypatch.setattr(receiver, "handle", broken)
    for _ in range(MAX_ATTEMPTS):
        assert len(env.process()) == 1
    assert env.process() == []  # given up: not tried for ever
    with sessions() as s:
        row = s.scalar(select(WebhookDelivery))
        assert row.outcome == "failed" and row.attempts == MAX_ATTEMPTS
        assert row.error == "ValueError: cannot make sense of this payload"
        assert row.processed_at is not None and row.body  # kept, to look into
    assert counts(sessions) == (1, 0, 0) and dispatched == []


def test_a_force_push_back_to_an_earlier_commit_makes_it_current_again(env):
    from mle_assess.github.sweep import times_from_db
    from mle_assess.timebox import official

    client, sessions, _, clock = env
    send(client, "member", added(), delivery="m")
    for minute, (sha, delivery) in enumerate([("a", "1"), ("b", "2"), ("a", "3")], start=1):
        clock.now = NOW + timedelta(minutes=minute)
        send(client, "push", push(sha * 40, pushed_at=clock.now), delivery=delivery)
    env.process()
    with sessions() as s:
        times = times_from_db(s.scalar(select(Candidate)))
    assert official(times.pushes, times.window).sha == "a" * 40


def test_text_a_database_cannot_hold_is_ignored_alike(env):
    # NUL characters: SQLite stores them, PostgreSQL's text cannot; ignored on both.
    client, sessions, dispatched, _ = env
    send(client, "push", push("a" * 40, repo=REPO + "\x00"), delivery="n1")
    send(client, "push", push("a" * 39 + "\x00"), delivery="n2")
    send(client, "member", added("al\x00ice"), delivery="n3")
    assert env.process() == [
        receiver.NOT_A_CANDIDATE,
        "ignored: not a commit SHA",
        "ignored: not the candidate",
    ]
    assert counts(sessions) == (3, 0, 0) and dispatched == []


def test_stored_times_come_back_as_the_same_utc_moments(env):
    # The PostgreSQL test server's own time zone is not UTC: sessions must still be in UTC.
    client, sessions, _, clock = env
    clock.now = datetime(2026, 6, 30, 23, 59, 59, 123456, tzinfo=UTC)
    send(client, "member", added(), delivery="t1")
    send(client, "push", push("d" * 40, pushed_at=clock.now), delivery="t2")
    env.process()
    with sessions() as s:
        candidate = s.scalar(select(Candidate))
        started = candidate.started_at
        assert started.tzinfo is None or started.utcoffset() == timedelta(0)
        assert started.replace(tzinfo=UTC) == clock.now.replace(microsecond=0)  # to the second
        received = s.scalar(select(Submission)).received_at
        assert received.replace(tzinfo=UTC) == clock.now  # microseconds and all


def test_a_copy_committed_at_the_same_moment_is_taken_as_a_duplicate(env, monkeypatch):
    """Two copies of one delivery received at once: the one that commits second breaks the
    unique delivery id, and is answered as a duplicate, not with a server error."""
    client, sessions, dispatched, _ = env
    original = receiver._seen

    def racing(session, delivery):
        with sessions.begin() as other:  # the other copy commits first
            other.add(WebhookDelivery(delivery_id=delivery, event="push", body=b"{}"))
        monkeypatch.setattr(receiver, "_seen", original)
        return original(session, delivery)

    monkeypatch.setattr(receiver, "_seen", racing)
    response = send(client, "push", push("b" * 40), delivery="d-race")
    assert response.status_code == 200 and "duplicate" in response.json["status"]
    with sessions() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 1
        assert s.scalar(select(WebhookDelivery.body)) == b"{}"  # the first copy's, unchanged


def test_a_push_in_the_same_second_as_the_acceptance_counts(env):
    """GitHub gives push times to the second; the window opens at the acceptance's second, so
    a push made within that second is inside the window, and becomes the official one."""
    client, sessions, _, clock = env
    clock.now = NOW + timedelta(microseconds=700_000)
    send(client, "member", added(), delivery="m1")
    clock.now = NOW + timedelta(microseconds=900_000)
    assert send(client, "push", push("c" * 40, pushed_at=NOW), delivery="p1").status_code == 202
    assert env.process() == ["window opened", "push recorded; grading dispatched"]
    with sessions() as s:
        candidate = s.scalar(select(Candidate))
        assert candidate.started_at.replace(tzinfo=UTC) == NOW
        assert candidate.official_sha == "c" * 40
        assert candidate.status == "in progress"


def test_the_served_board_refuses_a_body_past_the_cap_before_reading_it(tmp_path):
    """`mle-assess board` serves with waitress, whose own limit (1 GB by default) would buffer
    an unauthenticated body before the receiver's check: it is set just above GitHub's cap."""
    import http.client
    import socket
    import threading

    from mle_assess.board import create_app
    from mle_assess.cli import MAX_REQUEST_BODY, _bind

    assert MAX_BODY < MAX_REQUEST_BODY <= MAX_BODY + 2 * 1024 * 1024
    app = create_app(f"sqlite:///{tmp_path / 'b.db'}", secret_key="k", webhook_secret="s")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _bind(app, port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("POST", "/webhooks/github")
        conn.putheader("Content-Length", str(MAX_REQUEST_BODY + 1))
        conn.putheader("X-GitHub-Event", "push")
        conn.putheader("X-GitHub-Delivery", "too-big")
        conn.endheaders()
        conn.send(b"{" + b" " * 1024)  # waitress answers from the header alone
        response = conn.getresponse()
        assert response.status == 413
        conn.close()
    finally:
        server.close()
        thread.join(timeout=10)
    with app.extensions["mle_assess_sessions"]() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 0
