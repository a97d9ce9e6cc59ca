"""The board service finalizes closed windows by itself, against the GitHub-shaped server:
once the grace after a window has passed, the official push gets its final grading dispatched
(once), an open window or one inside its grace is left alone, and a GitHub outage leaves the
candidate for the next round. A result that arrives releases the candidate's waiting push."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from boardseed import add_candidate
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
            c = add_candidate(
                s, assessment.id, login.title(), login, started, repo=f"{ORG}/mle-{login}"
            )
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


def test_one_failure_costs_only_its_own_candidate(world):
    server, bot, _, sessions, shas = world
    calls: list[str] = []
    real = sweeping.dispatcher(bot, ASSESSMENT)

    def flaky(repo: str, sha: str, final: bool) -> None:
        calls.append(repo)
        if repo.endswith("mle-ada"):
            raise RuntimeError("connection reset")
        real(repo, sha, final)

    lines: list[str] = []
    later = NOW + sweeping.FINALIZE_GRACE  # Ada, Bo and Di are all due
    assert sorted(finalize_due(sessions, bot, flaky, later, lines.append)) == [
        f"{ORG}/mle-bo",
        f"{ORG}/mle-di",
    ]
    assert any("mle-ada: RuntimeError: connection reset; trying again" in line for line in lines)
    # Bo's dispatch stays recorded: the next round dispatches Ada alone.
    assert finalize_due(sessions, bot, real, later, lines.append) == [f"{ORG}/mle-ada"]
    assert [f["repo"] for f in finals(server)] == [f"{ORG}/mle-bo", f"{ORG}/mle-ada"]


def test_a_repository_gone_from_github_is_not_retried_for_ever(world):
    server, bot, _, sessions, _ = world
    dispatch = sweeping.dispatcher(bot, ASSESSMENT)
    with sessions.begin() as s:
        ada = s.scalar(select(Candidate).where(Candidate.login == "ada"))
        ada.repo = f"{ORG}/mle-deleted"
    lines: list[str] = []
    done = finalize_due(sessions, bot, dispatch, NOW, lines.append)
    assert sorted(done) == [f"{ORG}/mle-deleted", f"{ORG}/mle-di"]
    assert any(line.startswith(f"finalize {ORG}/mle-deleted: not finalized:") for line in lines)
    assert finalize_due(sessions, bot, dispatch, NOW, lines.append) == []


def test_an_extension_after_finalizing_finalizes_again_when_the_new_window_closes(world):
    server, bot, _, sessions, shas = world
    dispatch = sweeping.dispatcher(bot, ASSESSMENT)
    assert f"{ORG}/mle-ada" in finalize_due(sessions, bot, dispatch, NOW, lambda _: None)
    with sessions.begin() as s:
        sweeping.extend(s, f"{ORG}/mle-ada", 60)  # closes 30 minutes from NOW
    assert finalize_due(sessions, bot, dispatch, NOW, lambda _: None) == []
    later = NOW + timedelta(minutes=31) + sweeping.FINALIZE_GRACE
    lines: list[str] = []
    assert f"{ORG}/mle-ada" in finalize_due(sessions, bot, dispatch, later, lines.append), lines
    ada = [f for f in finals(server) if f["repo"] == f"{ORG}/mle-ada"]
    assert len(ada) == 2, lines  # once for the first deadline, once for the extended one


def test_a_window_extended_during_the_round_is_left_for_later(world):
    server, bot, _, sessions, _ = world
    real = sweeping.dispatcher(bot, ASSESSMENT)

    def extend_meanwhile(repo: str, sha: str, final: bool) -> None:
        with sessions.begin() as s:  # an admin extends Ada while her round runs
            sweeping.extend(s, repo, 60)
        real(repo, sha, final)

    lines: list[str] = []
    assert finalize_due(sessions, bot, extend_meanwhile, NOW, lines.append) == [f"{ORG}/mle-di"]
    assert f"finalize {ORG}/mle-ada: the window changed meanwhile; left for later" in lines
    with sessions() as s:
        assert s.scalar(select(Candidate).where(Candidate.login == "ada")).finalized_at is None


def test_a_failed_release_keeps_the_result(world, db_url, graded_session):
    _, _, _, _, shas = world

    def down(repo: str, sha: str) -> None:
        raise RuntimeError("GitHub is unreachable")

    app = create_app(db_url, secret_key="k", dispatch=down)
    sessions = app.extensions["mle_assess_sessions"]
    with sessions.begin() as s:
        ada = s.scalar(select(Candidate).where(Candidate.login == "ada"))
        s.add(GradingRequest(candidate_id=ada.id, sha="e" * 40, pushed_at=NOW, state="waiting"))
        token = new_token(s, "workflow")
    body = {
        "repo": f"{ORG}/mle-ada",
        "sha": shas["ada"],
        "results": graded_session("template").data,
    }
    response = app.test_client().post(
        "/api/results", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
    with sessions() as s:
        assert s.scalar(select(Candidate).where(Candidate.login == "ada")).official_score == 200
        assert s.scalar(select(GradingRequest)).state == "waiting"  # for the sweep
