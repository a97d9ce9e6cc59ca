"""The board service against the GitHub-shaped server: its jobs, each on its own interval;
processing stored webhook deliveries after the receiver has answered; the redelivery sweep that
recovers deliveries lost while the board was down, with their original times and one grading
each; and finalizing closed windows (once, after the grace, a GitHub outage leaving the
candidate for the next round). A result that arrives releases the candidate's waiting push."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from boardseed import add_candidate
from github import Auth, Github
from github_env import ORG, make_env
from sqlalchemy import func, select
from werkzeug.serving import make_server

from mle_assess import PROJECT_ROOT
from mle_assess.board import create_app
from mle_assess.board.api import new_token
from mle_assess.board.service import (
    REDELIVER_TRIES,
    Job,
    Service,
    board_jobs,
    finalize_due,
    redeliver_failed,
    redelivery_job,
)
from mle_assess.db import (
    Assessment,
    Candidate,
    GradingRequest,
    Submission,
    WebhookDelivery,
    connect,
)
from mle_assess.db.models import WebhookRedelivery
from mle_assess.github import queue
from mle_assess.github import sweep as sweeping

ASSESSMENT = f"{ORG}/assessment"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# The real grade.yml: the server checks a dispatch against its `workflow_dispatch` inputs.
GRADE_YML = (PROJECT_ROOT / ".github" / "workflows" / "grade.yml").read_text()
SECRET = "board-webhook-secret"


@pytest.fixture
def world(github_server, db_url):
    env = make_env(github_server)
    github_server.create_repo(ORG, "assessment", files={".github/workflows/grade.yml": GRADE_YML})
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


def test_the_service_thread_runs_its_jobs_at_once_and_stops(world):
    server, bot, _, sessions, _ = world
    lines: list[str] = []
    dispatch = sweeping.dispatcher(bot, ASSESSMENT)
    finalize = Job("finalize", 3600, lambda now: finalize_due(sessions, bot, dispatch, now))
    service = Service([finalize], clock=lambda: NOW, echo=lines.append).start()
    try:
        for _ in range(200):
            if finals(server):
                break
            service._stop.wait(0.05)
    finally:
        service.stop()
    assert [f["repo"] for f in finals(server)] == [f"{ORG}/mle-ada"]
    assert not service._thread.is_alive()


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


# --- the service's jobs ------------------------------------------------------------------


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_job_runs_on_its_own_interval_and_a_failure_stops_no_other():
    ticks, lines, ran = Ticks(), [], []

    def broken(now: datetime) -> None:
        ran.append("redeliver")
        raise RuntimeError("GitHub is unreachable")

    service = Service(
        [
            Job("deliveries", 2, lambda now: ran.append("deliveries")),
            Job("redeliver", 300, broken),
            Job("finalize", 60, lambda now: ran.append("finalize")),
        ],
        clock=lambda: NOW,
        monotonic=ticks,
        echo=lines.append,
    )
    service.add(Job("access", 60, lambda now: ran.append("access")))  # where more jobs go
    assert service.run_due() == ["deliveries", "redeliver", "finalize", "access"]  # all at once
    assert lines == ["redeliver: RuntimeError: GitHub is unreachable"]
    assert service.run_due() == [] and service.seconds_to_next() == 2
    for _ in range(300):  # ten simulated minutes, a second at a time
        ticks.now += 2
        service.run_due()
    assert ran.count("deliveries") == 301
    assert ran.count("finalize") == ran.count("access") == 11
    assert ran.count("redeliver") == 3  # at 0, 300 and 600 s, failing each time
    assert len(lines) == 3


def test_the_board_jobs_follow_what_the_board_was_given(world):
    _, bot, _, sessions, _ = world
    names = [job.name for job in board_jobs(sessions)]
    assert names == []
    jobs = board_jobs(
        sessions,
        process=lambda now, echo: [],
        app_gateway=bot,
        reader=bot,
        final_dispatch=lambda repo, sha, final: None,
        push_dispatch=lambda repo, sha: None,
    )
    assert [(job.name, job.every) for job in jobs] == [
        ("deliveries", 2.0),
        ("redeliver", 300.0),
        ("finalize", 60.0),
        ("access", 60.0),  # write access dropped at the close, given back by an extension
        ("invitations", 600.0),  # expired invitations; windows whose webhook was lost
        ("reconcile", 300.0),  # pushes no webhook brought, from the activity API
    ]
    # The access job is deadline.enforce_access: the closed windows' permissions are changed.
    dict((job.name, job) for job in jobs)["access"].run(NOW)
    changed = {r.path for r in world[0].requests_matching("PUT", r"/collaborators/")}
    assert changed and all("/mle-" in path for path in changed)


# --- webhooks: the receiver answers at once; the service processes and recovers ----------


class Board:
    """The board as `mle-assess board` serves it (receiver, dispatcher, our bot's login from
    GitHub) on 127.0.0.1, timed by the server's clock, with our App's webhook pointed at it.
    `down()` and `up()` stop and restart it on the same port."""

    def __init__(self, server, env, db_url: str, people: list[str]) -> None:
        self.server, self.env = server, env
        server.create_repo(ORG, "assessment", files={".github/workflows/grade.yml": GRADE_YML})
        self.bot = env.bot()
        self.app = create_app(
            db_url,
            secret_key="k",
            webhook_secret=SECRET,
            dispatch=queue.workflow_dispatcher(self.bot, ASSESSMENT),
            bot_login=self.bot.login(),
            clock=server.clock,
        )
        self.sessions = self.app.extensions["mle_assess_sessions"]
        self.lines: list[str] = []
        self.tokens = {login: server.add_user(login) for login in people}
        with self.sessions.begin() as s:
            assessment = Assessment(name="round", version="1", window_minutes=90)
            s.add(assessment)
            s.flush()
            for login in people:
                server.create_repo(ORG, f"mle-{login}", files={"README.md": f"{login}\n"})
                add_candidate(s, assessment.id, login.title(), login, None)
        self.port = 0
        self.up()
        server.set_app_webhook(
            env.app.id,
            f"http://127.0.0.1:{self.port}/webhooks/github",
            secret=SECRET,
            events=["push", "member"],
        )

    def up(self) -> None:
        self.http = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self.http.server_port
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def down(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join()

    def process(self) -> list[str]:
        """The service's deliveries job, once, at the server's time."""
        process = self.app.extensions["mle_assess_process_deliveries"]
        return process(self.server.clock(), self.lines.append)

    def candidate(self, login: str) -> Github:
        return Github(base_url=self.server.api_url, auth=Auth.Token(self.tokens[login]), retry=None)

    def invite(self, login: str) -> None:
        self.bot.invite(f"{ORG}/mle-{login}", login)

    def accept(self, login: str) -> None:
        user = self.candidate(login).get_user()
        for invitation in user.get_invitations():
            user.accept_invitation(invitation)
        self.server.deliveries_wait()

    def push(self, login: str, text: str) -> str:
        """A commit to main by the candidate (a push, as GitHub records it); its SHA."""
        repo = self.candidate(login).get_repo(f"{ORG}/mle-{login}")
        made = repo.create_file(f"{text}.md", text, f"{text}\n", branch="main")
        self.server.deliveries_wait()
        return made["commit"].sha


@pytest.fixture
def board(github_server, db_url):
    built = Board(github_server, make_env(github_server), db_url, ["ada", "bo", "cy"])
    yield built
    built.down()


def hook_deliveries(server, event: str | None = None) -> list:
    return [d for d in server.deliveries if event is None or d.event == event]


def lost(board: Board) -> list[str]:
    """Guids GitHub holds as failed on every attempt that the board never stored."""
    failed = {d.guid for d in board.server.deliveries} - {
        d.guid for d in board.server.deliveries if d.ok
    }
    with board.sessions() as s:
        stored = set(s.scalars(select(WebhookDelivery.delivery_id)))
    return sorted(failed - stored)


def test_the_receiver_answers_without_calling_github(board):
    """Dispatching grade.yml stalls for 30 s of the server's time. The receiver makes no
    GitHub call, so GitHub's 10 s limit is never reached; the dispatch happens when the
    service processes the delivery afterwards."""
    server = board.server
    server.inject(kind="stall", path=r"/dispatches$", method="POST", seconds=30, times=5)
    board.invite("ada")
    board.accept("ada")
    sha = board.push("ada", "first")
    (member,) = hook_deliveries(server, "member")
    pushes = [d for d in hook_deliveries(server, "push") if d.payload["after"] == sha]
    assert [(d.status_text, d.status_code) for d in [member, *pushes]] == [("OK", 202)] * 2
    assert all(d.duration < 10 for d in [member, *pushes])
    assert server.dispatches == []  # nothing dispatched in the request
    assert board.process() == ["window opened", "push recorded; grading dispatched"]
    assert [d["inputs"] for d in server.dispatches] == [{"repo": f"{ORG}/mle-ada", "sha": sha}]
    # The dispatch stalled the server's clock, and no delivery failed for it.
    assert all(d.ok for d in server.deliveries)


def test_an_outage_of_minutes_is_recovered_by_the_redelivery_sweep(board, capsys):
    """The board is down for several minutes while candidates accept and push. GitHub records
    every delivery as failed and sends none again by itself. Back up, the redelivery sweep
    finds them, records their original times and has them sent again: every push is recorded
    with its trusted time and graded once, every window opens when the candidate accepted."""
    server, app_gateway = board.server, board.env.root()
    board.invite("ada")
    board.accept("ada")  # before the outage
    board.process()
    for login in ("bo", "cy"):
        board.invite(login)

    board.down()
    shas: dict[str, list[str]] = {"ada": [], "bo": [], "cy": []}
    accepted: dict[str, datetime] = {}
    for login, step in [("bo", "accept"), ("ada", "push"), ("bo", "push"), ("cy", "accept"),
                        ("cy", "push"), ("ada", "push")]:  # fmt: skip
        server.advance_clock(60)
        if step == "accept":
            accepted[login] = server.clock()
            board.accept(login)
        else:
            shas[login].append(board.push(login, f"{login}-{len(shas[login])}"))
    server.advance_clock(5 * 60)  # the board stays down a few more minutes
    outage_deliveries = [d for d in server.deliveries if not d.ok]
    assert len(outage_deliveries) == 6 and all(d.status_code == 0 for d in outage_deliveries)
    lost_before = lost(board)
    assert len(lost_before) == 6

    board.up()
    redelivered = redeliver_failed(
        board.sessions, app_gateway, server.clock(), echo=board.lines.append
    )
    server.deliveries_wait()
    assert sorted(redelivered) == lost_before
    # Oldest first, each asked for once in the round.
    assert redelivered == [d.guid for d in outage_deliveries]
    again = [d for d in server.deliveries if d.redelivery]
    assert len(again) == 6 and all(d.ok for d in again)
    outcomes = board.process()
    lost_after = lost(board)
    with capsys.disabled():  # the figures, shown with or without -s
        print(f"\ndeliveries lost before the redelivery sweep: {len(lost_before)} of 6")
        print(f"deliveries lost after the redelivery sweep: {len(lost_after)} of 6")
    assert lost_after == []
    assert outcomes.count("window opened") == 2
    assert outcomes.count("push recorded; grading dispatched") == 3  # one per candidate
    assert outcomes.count("push recorded; grading waiting") == 1  # ada's second
    assert len(outcomes) == 6

    original = {d.guid: d for d in outage_deliveries}
    redelivery = {d.guid: d for d in again}

    def seconds(d) -> datetime:  # GitHub lists delivery times to the second
        return datetime.fromtimestamp(int(d.delivered_at), UTC)

    with board.sessions() as s:
        people = {c.login: c for c in s.scalars(select(Candidate))}
        for d in outage_deliveries:  # windows open at the acceptance, not the redelivery
            if d.event == "member":
                login = d.payload["member"]["login"]
                started = people[login].started_at.replace(tzinfo=UTC)
                assert started == seconds(d) >= accepted[login].replace(microsecond=0)
                assert seconds(redelivery[d.guid]) - started >= timedelta(minutes=5)
        subs = {sub.sha: sub for sub in s.scalars(select(Submission))}
        for d in outage_deliveries:
            if d.event != "push":
                continue
            sub = subs[d.payload["after"]]
            # GitHub's push time, and the receipt when GitHub first tried to deliver it.
            pushed = datetime.fromtimestamp(d.payload["repository"]["pushed_at"], UTC)
            assert sub.pushed_at.replace(tzinfo=UTC) == pushed
            delivered = seconds(original[d.guid])
            assert sub.received_at.replace(tzinfo=UTC) == delivered
            assert pushed <= delivered
        requests = {r.sha: r.state for r in s.scalars(select(GradingRequest))}
    every_push = [sha for pushed in shas.values() for sha in pushed]
    assert sorted(requests) == sorted(every_push)  # every push has its grading
    # Ada's second push waits for her first grading (the newest push wins, nothing cancelled).
    assert requests[shas["ada"][1]] == "waiting"
    dispatched = [(d["inputs"]["repo"], d["inputs"]["sha"]) for d in server.dispatches]
    assert len(dispatched) == len(set(dispatched)) == 3

    # Another round finds nothing to redeliver; nothing is processed or dispatched twice.
    server.advance_clock(300)
    assert redeliver_failed(board.sessions, app_gateway, server.clock()) == []
    assert board.process() == []
    assert len(server.dispatches) == 3
    with board.sessions() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 7  # 1 before, 6 recovered


def test_redelivery_is_bounded_per_round_and_per_delivery(board):
    """While the board stays down, each round asks at most once per lost delivery and at most
    `limit` in all; a delivery is asked for again after a doubling wait (5, 10, 20 minutes...),
    and given up after REDELIVER_TRIES requests, some ten hours on."""
    server, app_gateway = board.server, board.env.root()
    board.down()
    for login in ("ada", "bo", "cy"):
        board.invite(login)
        board.accept(login)
        server.advance_clock(30)
    assert len(lost(board)) == 3
    job = redelivery_job(board.sessions, app_gateway, every=300, echo=board.lines.append)
    first = redeliver_failed(board.sessions, app_gateway, server.clock(), limit=2)
    server.deliveries_wait()
    assert len(first) == 2  # the two oldest
    asked_at: dict[str, list[float]] = {}
    for d in server.deliveries:
        if d.redelivery:
            asked_at.setdefault(d.guid, []).append(server.now())
    for _ in range(12 * 3600 // 300):  # twelve hours of rounds
        server.advance_clock(300)
        before = len(server.deliveries)
        job.run(server.clock())
        server.deliveries_wait()
        asked = server.deliveries[before:]
        assert len({d.guid for d in asked}) == len(asked)  # once per delivery per round
        for d in asked:
            asked_at.setdefault(d.guid, []).append(server.now())
    assert sorted(len(times) for times in asked_at.values()) == [REDELIVER_TRIES] * 3
    for times in asked_at.values():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(gap >= 300 * 2**n - 1 for n, gap in enumerate(gaps)), gaps
    with board.sessions() as s:
        assert [r.requests for r in s.scalars(select(WebhookRedelivery))] == [REDELIVER_TRIES] * 3


def test_a_delivery_past_a_rounds_limit_is_asked_for_in_a_later_round(board):
    """More lost deliveries than one round may ask for: the rest are remembered, and asked for
    in later rounds even once they are older than the rounds' look-back."""
    server, app_gateway = board.server, board.env.root()
    board.down()
    for login in ("ada", "bo", "cy"):
        board.invite(login)
        board.accept(login)
        server.advance_clock(60)
    server.advance_clock(8 * 60)  # an outage of some minutes
    board.up()
    since = server.clock() - timedelta(days=3)
    for _ in range(3):  # one a round; each round looks back only ten minutes after the first
        redeliver_failed(board.sessions, app_gateway, server.clock(), since=since, limit=1)
        server.deliveries_wait()
        board.process()
        server.advance_clock(300)
        since = server.clock() - timedelta(minutes=10)
    assert lost(board) == []
    with board.sessions() as s:
        opened = dict(s.execute(select(Candidate.login, Candidate.started_at)).all())
    assert all(opened[login] is not None for login in ("ada", "bo", "cy")), opened


def test_a_delivery_stored_but_recorded_as_failed_is_not_redelivered(board):
    """GitHub records a delivery as failed when the answer came too late, though the board
    stored it: the guid is known, so it is not asked for again (nothing processed twice)."""
    server, app_gateway = board.server, board.env.root()
    board.down()
    board.invite("ada")
    board.accept("ada")
    (failed,) = server.deliveries
    with board.sessions.begin() as s:  # as if the board had stored it and answered late
        s.add(WebhookDelivery(delivery_id=failed.guid, event="member", body=failed.body))
    assert redeliver_failed(board.sessions, app_gateway, server.clock()) == []
    assert not any(d.redelivery for d in server.deliveries)


def test_github_refusing_a_redelivery_leaves_it_for_the_next_round(board):
    server, app_gateway = board.server, board.env.root()
    board.down()
    board.invite("ada")
    board.accept("ada")
    board.up()
    server.inject(kind="502", path=r"/app/hook/deliveries/\d+/attempts", times=100)
    lines: list[str] = []
    assert redeliver_failed(board.sessions, app_gateway, server.clock(), echo=lines.append) == []
    assert any("asked again next round" in line for line in lines)
    with board.sessions() as s:
        (record,) = s.scalars(select(WebhookRedelivery))
        assert record.error and record.requests == 1
    server.clear_faults()
    server.advance_clock(300)
    assert len(redeliver_failed(board.sessions, app_gateway, server.clock())) == 1
    server.deliveries_wait()
    assert board.process() == ["window opened"]


def test_mle_assess_board_processes_deliveries_and_knows_our_bot_from_github(
    github_server, tmp_path, monkeypatch
):
    """`mle-assess board` as deployed: the receiver answers, the service processes the
    deliveries, and a push by our App (its login read from GET /app, not assumed) is not
    graded while the candidate's is."""
    import os
    import socket
    import subprocess
    import sys
    import time

    server = github_server
    env = make_env(server)
    server.create_repo(ORG, "assessment", files={".github/workflows/grade.yml": GRADE_YML})
    token = server.add_user("ada")
    server.create_repo(ORG, "mle-ada", files={"README.md": "ada\n"})
    server.add_collaborator(ORG, "mle-ada", "ada")
    url = f"sqlite:///{tmp_path / 'board.db'}"
    _, sessions = connect(url)
    with sessions.begin() as s:
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        # Her window is open now: the board's access job would rightly make a closed one
        # read-only, and her push below would be refused.
        add_candidate(s, assessment.id, "Ada", "ada", server.clock(), repo=f"{ORG}/mle-ada")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {
        "MLE_ASSESS_GITHUB_API": server.api_url,
        "MLE_ASSESS_APP_ID": str(env.app.id),
        "MLE_ASSESS_APP_PRIVATE_KEY": env.app.private_key_pem,
        "MLE_ASSESS_GITHUB_PACING": "off",
        "MLE_ASSESS_WEBHOOK_SECRET": SECRET,
        "MLE_ASSESS_ASSESSMENT_REPO": ASSESSMENT,
        "MLE_ASSESS_ORG": ORG,
    }.items():
        monkeypatch.setenv(name, value)
    command = [sys.executable, "-m", "mle_assess", "board", "--db", url, "--port", str(port)]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ
    )
    try:
        for _ in range(300):
            line = proc.stdout.readline()
            if not line or line.startswith("board on"):
                break
        assert line.startswith("board on"), line
        server.set_app_webhook(
            env.app.id, f"http://127.0.0.1:{port}/webhooks/github", secret=SECRET
        )
        bot = env.bot()
        as_bot = Github(base_url=server.api_url, auth=Auth.Token(bot.token), retry=None)
        as_bot.get_repo(f"{ORG}/mle-ada").create_file("START.md", "start", "start\n")
        as_ada = Github(base_url=server.api_url, auth=Auth.Token(token), retry=None)
        sha = as_ada.get_repo(f"{ORG}/mle-ada").create_file("a.md", "mine", "a\n")["commit"].sha
        server.deliveries_wait()
        assert [d.status_code for d in server.deliveries] == [202, 202]
        for _ in range(300):  # the service processes every 2 s
            with sessions() as s:
                done = s.scalars(
                    select(WebhookDelivery.outcome)
                    .where(WebhookDelivery.processed_at.is_not(None))
                    .order_by(WebhookDelivery.id)
                ).all()
            if len(done) == 2 and server.dispatches:  # dispatched after the commit
                break
            time.sleep(0.1)
        assert done == [
            "ignored: a push by MLE Assess itself (provisioning's start file)",
            "push recorded; grading dispatched",
        ]
        assert [d["inputs"] for d in server.dispatches] == [{"repo": f"{ORG}/mle-ada", "sha": sha}]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
