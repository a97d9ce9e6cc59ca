"""The webhook receiver: signed deliveries only, each taken once, pushes recorded with trusted
times, the candidate's window opened by the invitation's acceptance, gradings queued."""

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
from mle_assess.github import queue
from mle_assess.github.webhook import create_blueprint

SECRET = "webhook-secret-for-tests"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
REPO = "acme/mle-alice"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def env(db_url):
    _, sessions = connect(db_url)
    with sessions.begin() as s:
        assessment = Assessment(name="round-1", version="0.1.0", window_minutes=90)
        s.add(assessment)
        s.flush()
        s.add(Candidate(assessment_id=assessment.id, name="Alice", login="alice", repo=REPO))
    dispatched: list[tuple[str, str]] = []
    clock = Clock()
    app = Flask("test")
    app.register_blueprint(
        create_blueprint(
            secret=SECRET,
            sessions=sessions,
            dispatch=lambda repo, sha: dispatched.append((repo, sha)),
            clock=clock,
        )
    )
    return app.test_client(), sessions, dispatched, clock


def send(client, event, payload, *, delivery="d-1", secret=SECRET, signature=None):
    body = json.dumps(payload).encode()
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


@pytest.mark.parametrize("signature", ["none", "sha256=" + "0" * 64, "sha1=abc", "sha256=not-hex"])
def test_bad_or_missing_signature_is_refused_with_nothing_stored(env, signature):
    client, sessions, dispatched, _ = env
    response = send(client, "push", push("a" * 40), signature=signature)
    assert response.status_code == 401
    assert counts(sessions) == (0, 0, 0) and dispatched == []


def test_wrong_secret_is_refused(env):
    client, sessions, dispatched, _ = env
    assert send(client, "push", push("a" * 40), secret="another").status_code == 401
    assert counts(sessions) == (0, 0, 0) and dispatched == []


def test_push_records_trusted_time_and_dispatches_once_even_when_replayed(env):
    client, sessions, dispatched, _ = env
    pushed = NOW - timedelta(seconds=3)
    first = send(client, "push", push("a" * 40, pushed_at=pushed), delivery="d-7")
    again = send(client, "push", push("a" * 40, pushed_at=pushed), delivery="d-7")
    assert first.status_code == 200 and first.json["status"] == "push recorded; grading dispatched"
    assert again.status_code == 200 and "duplicate" in again.json["status"]
    assert dispatched == [(REPO, "a" * 40)]
    with sessions() as s:
        sub = s.scalar(select(Submission))
        assert sub.pushed_at.replace(tzinfo=UTC) == pushed
        assert sub.received_at.replace(tzinfo=UTC) == NOW
    assert counts(sessions) == (1, 1, 1)


def test_unknown_repository_is_refused_with_nothing_stored(env):
    client, sessions, dispatched, _ = env
    response = send(client, "push", push("a" * 40, repo="acme/somebody-else"))
    assert response.status_code == 404
    assert counts(sessions) == (0, 0, 0) and dispatched == []


def test_pushes_by_an_app_are_not_graded(env):
    client, sessions, dispatched, _ = env
    payload = push("b" * 40) | {"sender": {"login": "mle-assess[bot]", "type": "Bot"}}
    assert "ignored" in send(client, "push", payload).json["status"]
    assert dispatched == [] and counts(sessions) == (1, 0, 0)


def test_pushes_to_other_branches_are_not_graded(env):
    client, sessions, dispatched, _ = env
    assert send(client, "push", push("b" * 40, ref="refs/heads/feedback")).status_code == 200
    assert dispatched == [] and counts(sessions) == (1, 0, 0)


def test_newest_push_wins_while_a_grading_is_in_flight(env):
    client, sessions, dispatched, clock = env
    send(client, "push", push("a" * 40, pushed_at=NOW), delivery="1")
    clock.now = NOW + timedelta(minutes=1)
    send(client, "push", push("b" * 40, pushed_at=clock.now), delivery="2")
    clock.now = NOW + timedelta(minutes=2)
    send(client, "push", push("c" * 40, pushed_at=clock.now), delivery="3")
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
    added = {"action": "added", "member": {"login": "Alice"}, "repository": {"full_name": REPO}}
    assert send(client, "member", added, delivery="m1").json["status"] == "window opened"
    clock.now = NOW + timedelta(minutes=30)
    assert "already open" in send(client, "member", added, delivery="m2").json["status"]
    with sessions() as s:
        candidate = s.scalar(select(Candidate))
        assert candidate.started_at.replace(tzinfo=UTC) == NOW
        assert candidate.deadline.replace(tzinfo=UTC) == NOW + timedelta(minutes=90)


def test_someone_else_added_does_not_open_the_window(env):
    client, sessions, _, _ = env
    added = {"action": "added", "member": {"login": "mallory"}, "repository": {"full_name": REPO}}
    assert send(client, "member", added).json["status"] == "ignored: not the candidate"
    with sessions() as s:
        assert s.scalar(select(Candidate)).started_at is None


def test_malformed_bodies_are_refused(env):
    client, sessions, _, _ = env
    body = b"[not json"
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        "/webhooks/github",
        data=body,
        headers={
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "x",
            "X-Hub-Signature-256": f"sha256={digest}",
        },
    )
    assert response.status_code == 400 and counts(sessions) == (0, 0, 0)


def test_a_dispatch_github_refuses_leaves_the_push_waiting_for_the_sweep(db_url):
    from mle_assess.errors import GitHubUnavailable

    _, sessions = connect(db_url)
    with sessions.begin() as s:
        assessment = Assessment(name="r", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        s.add(Candidate(assessment_id=assessment.id, name="A", login="alice", repo=REPO))

    def refuse(repo, sha):
        raise GitHubUnavailable("GitHub is down")

    app = Flask("test")
    app.register_blueprint(
        create_blueprint(secret=SECRET, sessions=sessions, dispatch=refuse, clock=Clock())
    )
    response = send(app.test_client(), "push", push("a" * 40))
    assert response.status_code == 200
    with sessions() as s:
        (req,) = s.scalars(select(GradingRequest))
        assert req.state == "waiting" and req.dispatched_at is None
        assert s.scalar(select(func.count()).select_from(Submission)) == 1


def test_a_force_push_back_to_an_earlier_commit_makes_it_current_again(env):
    from mle_assess.github.sweep import times_from_db
    from mle_assess.timebox import official

    client, sessions, _, clock = env
    added = {"action": "added", "member": {"login": "alice"}, "repository": {"full_name": REPO}}
    send(client, "member", added, delivery="m")
    for minute, (sha, delivery) in enumerate([("a", "1"), ("b", "2"), ("a", "3")], start=1):
        clock.now = NOW + timedelta(minutes=minute)
        send(client, "push", push(sha * 40, pushed_at=clock.now), delivery=delivery)
    with sessions() as s:
        times = times_from_db(s.scalar(select(Candidate)))
    assert official(times.pushes, times.window).sha == "a" * 40


def test_text_a_database_cannot_hold_is_refused_alike(env):
    # NUL characters: SQLite stores them, PostgreSQL's text cannot; refused on both.
    client, sessions, dispatched, _ = env
    response = send(client, "push", push("a" * 40, repo=REPO + "\x00"), delivery="n1")
    assert response.status_code == 404
    assert counts(sessions) == (0, 0, 0)
    not_a_sha = send(client, "push", push("a" * 39 + "\x00"), delivery="n2")
    assert not_a_sha.status_code == 200 and "ignored" in not_a_sha.json["status"]
    assert counts(sessions) == (1, 0, 0) and dispatched == []
    added = {"action": "added", "member": {"login": "al\x00ice"}, "repository": {"full_name": REPO}}
    assert (
        send(client, "member", added, delivery="n3").json["status"] == "ignored: not the candidate"
    )


def test_stored_times_come_back_as_the_same_utc_moments(env):
    # The PostgreSQL test server's own time zone is not UTC: sessions must still be in UTC.
    client, sessions, _, clock = env
    clock.now = datetime(2026, 6, 30, 23, 59, 59, 123456, tzinfo=UTC)
    added = {"action": "added", "member": {"login": "alice"}, "repository": {"full_name": REPO}}
    send(client, "member", added, delivery="t1")
    send(client, "push", push("d" * 40, pushed_at=clock.now), delivery="t2")
    with sessions() as s:
        candidate = s.scalar(select(Candidate))
        started = candidate.started_at
        assert started.tzinfo is None or started.utcoffset() == timedelta(0)
        assert started.replace(tzinfo=UTC) == clock.now.replace(microsecond=0)  # to the second
        received = s.scalar(select(Submission)).received_at
        assert received.replace(tzinfo=UTC) == clock.now  # microseconds and all


def test_a_copy_committed_at_the_same_moment_is_taken_as_a_duplicate(env, monkeypatch):
    """Two copies of one delivery handled at once: the one that commits second breaks the
    unique delivery id, and is answered as a duplicate, not with a server error."""
    import mle_assess.github.webhook as receiver

    client, sessions, dispatched, _ = env
    original = receiver.handle

    def racing(session, *args, **kwargs):
        with sessions.begin() as other:  # the other copy commits first
            other.add(WebhookDelivery(delivery_id="d-race", event="push", outcome="recorded"))
        monkeypatch.setattr(receiver, "handle", original)
        return original(session, *args, **kwargs)

    monkeypatch.setattr(receiver, "handle", racing)
    response = send(client, "push", push("b" * 40), delivery="d-race")
    assert response.status_code == 200 and "duplicate" in response.json["status"]
    assert dispatched == []
    with sessions() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 1
        assert s.scalar(select(func.count(Submission.id))) == 0


def test_a_push_in_the_same_second_as_the_acceptance_counts(env):
    """GitHub gives push times to the second; the window opens at the acceptance's second, so
    a push made within that second is inside the window, and becomes the official one."""
    client, sessions, _, clock = env
    clock.now = NOW + timedelta(microseconds=700_000)
    added = {"action": "added", "member": {"login": "alice"}, "repository": {"full_name": REPO}}
    assert send(client, "member", added, delivery="m1").json["status"] == "window opened"
    clock.now = NOW + timedelta(microseconds=900_000)
    assert send(client, "push", push("c" * 40, pushed_at=NOW), delivery="p1").status_code == 200
    with sessions() as s:
        candidate = s.scalar(select(Candidate))
        assert candidate.started_at.replace(tzinfo=UTC) == NOW
        assert candidate.official_sha == "c" * 40
        assert candidate.status == "in progress"
