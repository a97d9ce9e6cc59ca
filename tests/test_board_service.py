"""The board service finalizes closed windows by itself, against the GitHub-shaped server:
once the grace after a window has passed, the official push gets its final grading dispatched
(once), an open window or one inside its grace is left alone, and a GitHub outage leaves the
candidate for the next round. A result that arrives releases the candidate's waiting push."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from github_env import ORG, make_env
from sqlalchemy import select

from mle_assess.board import create_app
from mle_assess.board.api import new_token
from mle_assess.board.service import Finalizer, finalize_due
from mle_assess.db import Assessment, Candidate, GradingRequest, Submission
from mle_assess.github import sweep as sweeping

ASSESSMENT = f"{ORG}/assessment"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(github_server, db_url):
    env = make_env(github_server)
    github_server.create_repo(
        ORG, "assessment", files={".github/workflows/grade.yml": "name: grade\n"}
    )
    bot = env.bot()
    app = create_app(db_url, secret_key="k")
    sessions = app.extensions["mle_assess_sessions"]
    # name, minutes since the window opened, minutes into the window of the last push
    people = [("ada", 120, 80), ("bo", 95, 30), ("cy", 30, 10), ("di", 200, None)]
    shas = {}
    with sessions.begin() as s:
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        for login, opened_ago, pushed in people:
            github_server.create_repo(ORG, f"mle-{login}", files={"README.md": f"{login}\n"})
            started = NOW - timedelta(minutes=opened_ago)
            c = Candidate(
                assessment_id=assessment.id,
                name=login.title(),
                login=login,
                repo=f"{ORG}/mle-{login}",
                started_at=started,
                deadline=started + timedelta(minutes=90),
            )
            s.add(c)
            s.flush()
            if pushed is not None:
                shas[login] = bot.branch_sha(c.repo, "main")
                s.add(
                    Submission(
                        candidate_id=c.id,
                        sha=shas[login],
                        pushed_at=started + timedelta(minutes=pushed),
                    )
                )
    return github_server, bot, app, sessions, shas


def finals(server):
    return [d["inputs"] for d in server.dispatches if d["inputs"].get("final") == "true"]


def test_closed_windows_are_finalized_once_after_the_grace(world):
    server, bot, _, sessions, shas = world
    lines: list[str] = []
    dispatch = sweeping.dispatcher(bot, ASSESSMENT)
    done = finalize_due(sessions, bot, dispatch, NOW, lines.append)
    # Ada's window closed 30 minutes ago and Di's (no push) long ago; Bo's closed 5 minutes
    # ago, inside the grace; Cy's is open.
    assert sorted(done) == [f"{ORG}/mle-ada", f"{ORG}/mle-di"]
    assert finals(server) == [{"repo": f"{ORG}/mle-ada", "sha": shas["ada"], "final": "true"}]
    assert f"finalize {ORG}/mle-di: nothing to dispatch" in lines
    assert finalize_due(sessions, bot, dispatch, NOW, lines.append) == []
    later = NOW + sweeping.FINALIZE_GRACE
    assert finalize_due(sessions, bot, dispatch, later, lines.append) == [f"{ORG}/mle-bo"]
    assert [f["repo"] for f in finals(server)] == [f"{ORG}/mle-ada", f"{ORG}/mle-bo"]
    with sessions() as s:
        marked = {c.login: c.finalized_at for c in s.scalars(select(Candidate))}
    assert marked["cy"] is None and all(marked[k] for k in ("ada", "bo", "di"))


def test_an_outage_leaves_the_candidate_for_the_next_round(world):
    server, bot, _, sessions, _ = world
    dispatch = sweeping.dispatcher(bot, ASSESSMENT)
    server.inject(kind="502", path=r"/mle-ada/commits/", times=100)
    lines: list[str] = []
    assert finalize_due(sessions, bot, dispatch, NOW, lines.append) == [f"{ORG}/mle-di"]
    assert any("mle-ada" in line and "trying again later" in line for line in lines)
    assert finals(server) == []
    server.clear_faults()
    assert finalize_due(sessions, bot, dispatch, NOW, lines.append) == [f"{ORG}/mle-ada"]
    assert len(finals(server)) == 1


def test_the_finalizer_thread_runs_at_once_and_stops(world):
    server, bot, _, sessions, _ = world
    lines: list[str] = []
    finalizer = Finalizer(
        sessions,
        bot,
        sweeping.dispatcher(bot, ASSESSMENT),
        every=3600,
        clock=lambda: NOW,
        echo=lines.append,
    ).start()
    try:
        for _ in range(200):
            if finals(server):
                break
            finalizer._stop.wait(0.05)
    finally:
        finalizer.stop()
    assert [f["repo"] for f in finals(server)] == [f"{ORG}/mle-ada"]
    assert not finalizer._thread.is_alive()


def test_a_stored_result_releases_the_waiting_push(world, db_url, graded_session):
    _, _, _, _, shas = world
    dispatched: list[tuple[str, str]] = []
    app = create_app(  # the same database, now with a dispatcher, as `mle-assess board` has
        db_url,
        secret_key="k",
        dispatch=lambda repo, sha: dispatched.append((repo, sha)),
    )
    sessions = app.extensions["mle_assess_sessions"]
    waiting = "e" * 40
    with sessions.begin() as s:
        ada = s.scalar(select(Candidate).where(Candidate.login == "ada"))
        s.add_all(
            [
                GradingRequest(
                    candidate_id=ada.id,
                    sha=shas["ada"],
                    pushed_at=NOW,
                    state="dispatched",
                    dispatched_at=datetime.now(UTC),
                ),
                GradingRequest(candidate_id=ada.id, sha=waiting, pushed_at=NOW, state="waiting"),
            ]
        )
        token = new_token(s, "workflow")
    body = {
        "repo": f"{ORG}/mle-ada",
        "sha": shas["ada"],
        "results": graded_session("template").data,
    }
    client = app.test_client()
    response = client.post("/api/results", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201
    assert dispatched == [(f"{ORG}/mle-ada", waiting)]
    with sessions() as s:
        states = {r.sha: r.state for r in s.scalars(select(GradingRequest))}
    assert states == {shas["ada"]: "dispatched", waiting: "dispatched"}
    # A repeat of the same result releases nothing more.
    again = client.post("/api/results", json=body, headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 200 and len(dispatched) == 1
