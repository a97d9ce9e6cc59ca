"""Publishing, provisioning and posting against the GitHub-shaped server, through the gateway:
everything made once however often it runs, and every result delivered exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from github import Auth, Github, GithubException
from github_env import ORG, TEAM, make_env
from sqlalchemy import select

from hidden_tests import CANARY
from mle_assess.db import Candidate, connect
from mle_assess.github import post as posting
from mle_assess.github.provision import Entry, provision, publish_template

TEMPLATE = f"{ORG}/mle-template"
CANDIDATES = [Entry("Alice Adams", "alice"), Entry("Bob Brown", "bob"), Entry("Cy Chen", "cy")]


@pytest.fixture
def world(github_server, tmp_path):
    """An organisation with a published template and three provisioned candidates."""
    env = make_env(github_server)
    tokens = {e.login: github_server.add_user(e.login) for e in CANDIDATES}
    bot = env.bot()
    publish_template(bot, TEMPLATE, echo=lambda _: None)
    _, sessions = connect(f"sqlite:///{tmp_path / 'board.db'}")
    lines: list[str] = []
    repos = provision(
        bot,
        CANDIDATES,
        org=ORG,
        template=TEMPLATE,
        team=TEAM,
        prefix="mle-",
        sessions=sessions,
        assessment="round-1",
        echo=lines.append,
    )
    return env, bot, tokens, sessions, repos, lines


def pygithub(env, token):
    return Github(base_url=env.server.api_url, auth=Auth.Token(token), retry=None)


def test_publish_template_is_private_a_template_and_idempotent(world):
    env, bot, *_ = world
    repo = bot.repo(TEMPLATE)
    assert repo["private"] and repo["is_template"]
    first = bot.branch_sha(TEMPLATE, "main")
    pushes = len(env.server.requests_matching("POST", "git-receive-pack"))
    lines: list[str] = []
    assert publish_template(bot, TEMPLATE, echo=lines.append) == first
    assert "[template] already up to date" in lines
    assert len(env.server.requests_matching("POST", "git-receive-pack")) == pushes


def test_provision_makes_each_candidate_repository_completely(world):
    env, bot, tokens, sessions, repos, lines = world
    assert repos == [f"{ORG}/mle-alice", f"{ORG}/mle-bob", f"{ORG}/mle-cy"]
    reviewer = pygithub(env, env.server.new_token("reviewer"))
    admin = pygithub(env, env.admin_token)
    for entry, repo in zip(CANDIDATES, repos, strict=True):
        assert bot.repo(repo)["private"] is True
        assert bot.pending_invitees(repo) == [entry.login]
        assert reviewer.get_repo(repo).full_name == repo  # the team can read it
        # feedback stays at the repository's first commit (the template's files); main has
        # one more, the start file, so the pull request has something to show.
        main = admin.get_repo(repo).get_commit("main")
        assert [p.sha for p in main.parents] == [bot.branch_sha(repo, "feedback")]
        with pytest.raises(GithubException):
            admin.get_repo(repo).get_contents("START.md", "feedback")
        start = pygithub(env, env.admin_token).get_repo(repo).get_contents("START.md", "main")
        assert entry.name in start.decoded_content.decode()
        assert bot.find_pull(repo, "main", "feedback") is not None
    assert any(line == "[1/3] acme/mle-alice: invited alice (push)" for line in lines)
    with sessions() as s:
        recorded = s.scalars(select(Candidate).order_by(Candidate.id)).all()
        assert [c.repo for c in recorded] == repos
        # The board links to the feedback pull request by its number.
        assert [c.feedback_pull for c in recorded] == [
            bot.find_pull(repo, "main", "feedback") for repo in repos
        ]
        assert all(isinstance(c.feedback_pull, int) for c in recorded)
        # Each was generated from the template's main as published, and is invited.
        template_main = bot.branch_sha(TEMPLATE, "main")
        assert [c.template_commit for c in recorded] == [template_main] * len(repos)
        assert [c.invitation for c in recorded] == ["pending"] * len(repos)


def test_provision_again_changes_nothing(world):
    env, bot, tokens, sessions, repos, _ = world
    before = len(env.server.requests)
    heads = {r: (bot.branch_sha(r, "main"), bot.branch_sha(r, "feedback")) for r in repos}
    lines: list[str] = []
    provision(
        bot,
        CANDIDATES,
        org=ORG,
        template=TEMPLATE,
        team=TEAM,
        prefix="mle-",
        sessions=sessions,
        assessment="round-1",
        echo=lines.append,
    )
    writes = [
        (r.method, r.path)
        for r in env.server.requests[before:]
        if r.method in ("POST", "PUT", "PATCH", "DELETE") and "/access_tokens" not in r.path
    ]
    # Only the team grant is repeated (PUT is idempotent on GitHub): no repository, branch,
    # commit, invitation or pull request is made twice.
    assert writes == [("PUT", f"/api/v3/orgs/{ORG}/teams/{TEAM}/repos/{r}") for r in repos]
    assert {r: (bot.branch_sha(r, "main"), bot.branch_sha(r, "feedback")) for r in repos} == heads
    assert any("already invited" in line for line in lines)
    assert any("feedback pull request exists" in line for line in lines)


@pytest.fixture
def results_dir(tmp_path, graded_session):
    """A real results folder: the starter graded by the real grader."""
    results = graded_session("template")
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(results.data))
    (folder / "report.md").write_text(results.report)
    return folder


def comments_by(env, repo, number):
    return [c for c in env.bot().comments(repo, number) if posting.MARKER in c["body"]]


def post_once(bot, repo, sha, results_dir, outbox, **targets):
    delivery = posting.load(results_dir, repo, sha)
    return posting.deliver(delivery, bot, posting.Targets(**targets), outbox), delivery


def test_post_creates_one_check_run_and_one_sticky_comment_however_often(
    world, results_dir, tmp_path
):
    env, bot, tokens, _, repos, _ = world
    repo = repos[0]
    sha = bot.branch_sha(repo, "main")
    outbox = posting.Outbox(tmp_path / "outbox")
    summary = tmp_path / "summary.md"
    for _ in range(3):
        post_once(bot, repo, sha, results_dir, outbox, summary_path=str(summary))
    runs = bot.check_runs(repo, sha)
    assert len(runs) == 1 and runs[0]["app_id"] == env.app.id
    assert runs[0]["title"].endswith("coding checks passed")
    number = bot.find_pull(repo, "main", "feedback")
    (sticky,) = comments_by(env, repo, number)
    assert sticky["author"] == env.app.bot_login
    # Before the deadline the candidate sees no score, no key, and nothing hidden.
    text = sticky["body"] + runs[0]["summary"]
    assert "scaled" not in text.lower() and CANARY not in text
    assert "Scaled score" in summary.read_text()  # the staff-only job summary has it
    assert not list((tmp_path / "outbox").glob("*.json"))


def test_a_sticky_comment_edited_by_the_candidate_is_restored_and_flagged(
    world, results_dir, tmp_path
):
    env, bot, tokens, _, repos, _ = world
    repo = repos[0]
    sha = bot.branch_sha(repo, "main")
    outbox = posting.Outbox(tmp_path / "outbox")
    post_once(bot, repo, sha, results_dir, outbox)
    number = bot.find_pull(repo, "main", "feedback")
    env.server.add_collaborator(ORG, "mle-alice", "alice")
    candidate = pygithub(env, tokens["alice"]).get_repo(repo)
    (sticky,) = comments_by(env, repo, number)
    original = sticky["body"]
    candidate.get_pull(number).get_issue_comment(sticky["id"]).edit(
        original.replace("0 of", "20 of")
    )
    # The candidate's own comment with our marker is not ours: it is left alone.
    candidate.get_pull(number).create_issue_comment(posting.sticky_body("6 of 6 passed"))
    _, delivery = post_once(bot, repo, sha, results_dir, outbox)
    ours = [c for c in comments_by(env, repo, number) if c["author"] == env.app.bot_login]
    assert len(ours) == 1 and ours[0]["body"] == original
    assert delivery.flags[0]["kind"] == "sticky_comment_edited"
    assert env.server.comment_editors(ORG, "mle-alice", sticky["id"])[-2:] == [
        "alice",
        env.app.bot_login,
    ]


def test_faults_while_posting_still_deliver_exactly_once(world, results_dir, tmp_path):
    env, bot, _, _, repos, _ = world
    repo = repos[1]
    sha = bot.branch_sha(repo, "main")
    server = env.server
    server.inject(kind="500", method="POST", path=r"/check-runs$")
    server.inject(kind="drop", method="POST", path=r"/issues/\d+/comments$")
    server.inject(kind="secondary", method="GET", path=r"/pulls$", seconds=1, status=429)
    server.inject(kind="rate_limit", method="GET", path=r"/check-runs$", seconds=2)
    done, _ = post_once(bot, repo, sha, results_dir, posting.Outbox(tmp_path / "outbox"))
    assert done == ["check", "board", "summary", "comment"]
    assert len(bot.check_runs(repo, sha)) == 1
    number = bot.find_pull(repo, "main", "feedback")
    assert len(comments_by(env, repo, number)) == 1


def test_an_outage_leaves_the_results_in_the_outbox_until_retried(world, results_dir, tmp_path):
    env, bot, _, _, repos, _ = world
    repo = repos[2]
    sha = bot.branch_sha(repo, "main")
    outbox = posting.Outbox(tmp_path / "outbox")
    env.server.inject(kind="502", method="POST", path=r"/issues/\d+/comments$", times=100)
    with pytest.raises(posting.PostingDeferred, match="retry-outbox"):
        post_once(bot, repo, sha, results_dir, outbox)
    (kept,) = outbox.waiting()
    # Everything but the comment went out; the comment waits, after three tries.
    assert kept.pending == ["comment"]
    env.server.clear_faults()
    assert posting.retry_outbox(lambda _: bot, posting.Targets(), outbox) == (1, 0)
    assert posting.retry_outbox(lambda _: bot, posting.Targets(), outbox) == (0, 0)
    assert len(bot.check_runs(repo, sha)) == 1
    assert len(comments_by(env, repo, bot.find_pull(repo, "main", "feedback"))) == 1


def test_without_an_app_a_status_is_posted_and_marked_not_authoritative(
    world, results_dir, tmp_path
):
    env, bot, _, _, repos, _ = world
    repo = repos[0]
    sha = bot.branch_sha(repo, "main")
    plain = env.token_gateway(env.admin_token)
    delivery = posting.load(results_dir, repo, sha)
    posting.ensure_check(delivery, plain)
    assert delivery.authoritative is False
    statuses = pygithub(env, env.admin_token).get_repo(repo).get_commit(sha).get_statuses()
    assert [s.context for s in statuses] == [posting.CHECK_NAME]
    assert bot.check_runs(repo, sha) == []


def test_the_final_post_shows_the_score_on_its_own_check_run(world, results_dir, tmp_path):
    env, bot, _, _, repos, _ = world
    repo = repos[0]
    sha = bot.branch_sha(repo, "main")
    delivery = posting.load(results_dir, repo, sha, final=True)
    posting.deliver(delivery, bot, posting.Targets(), posting.Outbox(tmp_path / "o"))
    (final,) = bot.check_runs(repo, sha, posting.FINAL_CHECK_NAME)
    assert final["title"] == "Final score: 200 (200 to 600)"
    assert "| Module 1 | 0 of 5 |" in final["summary"]


def test_results_that_are_not_valid_are_refused(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "results.json").write_text('{"score": 1}')
    with pytest.raises(Exception, match="not a valid results.json"):
        posting.load(folder, "acme/x", "a" * 40)
    assert not Path(tmp_path / "outbox").exists()


class Board:
    """A stand-in receiver for the board's `POST /api/results` (the board itself is built
    separately): it records what arrives, and can be made to fail."""

    def __init__(self) -> None:
        from flask import Flask, jsonify, request
        from werkzeug.serving import make_server

        self.received: list[tuple[str, dict]] = []
        self.fail = 0
        app = Flask("board")

        @app.post("/api/results")
        def results():  # noqa: ANN202 - a Flask view
            if self.fail:
                self.fail -= 1
                return jsonify(error="down"), 503
            self.received.append((request.headers.get("Authorization", ""), request.get_json()))
            return jsonify(status="stored"), 201

        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        import threading

        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.thread.join()


@pytest.fixture
def board():
    receiver = Board()
    yield receiver
    receiver.close()


def test_results_reach_the_board_with_its_token_once_even_after_it_was_down(
    world, results_dir, tmp_path, board
):
    env, bot, _, _, repos, _ = world
    repo = repos[0]
    sha = bot.branch_sha(repo, "main")
    outbox = posting.Outbox(tmp_path / "outbox")
    targets = posting.Targets(board_url=board.url, board_token="board-token")
    board.fail = posting.STEP_ATTEMPTS  # down for every try of this posting
    with pytest.raises(posting.PostingDeferred):
        posting.deliver(posting.load(results_dir, repo, sha), bot, targets, outbox)
    assert board.received == [] and [d.pending for d in outbox.waiting()] == [["board"]]
    assert board.fail == 0  # back up
    assert posting.retry_outbox(lambda _: bot, targets, outbox) == (1, 0)
    ((auth, body),) = board.received
    assert auth == "Bearer board-token"
    assert body["repo"] == repo and body["sha"] == sha and body["authoritative"] is True
    assert body["results"]["extra_data"]["scaled_score"] == 200


def test_an_infrastructure_failure_posts_a_neutral_check_and_no_score(world, tmp_path, board):
    env, bot, _, _, repos, _ = world
    repo = repos[1]
    sha = bot.branch_sha(repo, "main")
    delivery = posting.neutral(repo, sha, "the runner went away")
    targets = posting.Targets(board_url=board.url, board_token="t")
    posting.deliver(delivery, bot, targets, posting.Outbox(tmp_path / "o"))
    (run,) = bot.check_runs(repo, sha)
    assert run["conclusion"] == "neutral" and run["title"] == "Grading did not run"
    assert "not a score" in run["summary"] and board.received == []


def test_a_sticky_comment_forged_with_a_marker_or_stripped_of_it_is_restored(
    world, results_dir, tmp_path, monkeypatch
):
    """The marker's digest is keyed: a candidate cannot make one that checks out, and a
    comment of our bot without any marker is still ours."""
    env, bot, tokens, _, repos, _ = world
    monkeypatch.setenv("MLE_ASSESS_COMMENT_KEY", "the report job's key")
    repo = repos[0]
    sha = bot.branch_sha(repo, "main")
    outbox = posting.Outbox(tmp_path / "outbox")
    post_once(bot, repo, sha, results_dir, outbox)
    number = bot.find_pull(repo, "main", "feedback")
    env.server.add_collaborator(ORG, "mle-alice", "alice")
    comment = pygithub(env, tokens["alice"]).get_repo(repo).get_pull(number)
    (sticky,) = comments_by(env, repo, number)
    original = sticky["body"]
    monkeypatch.setenv("MLE_ASSESS_COMMENT_KEY", "a guess")
    forged = posting.sticky_body("Scaled score: **600**\n", sha, final=True)
    monkeypatch.setenv("MLE_ASSESS_COMMENT_KEY", "the report job's key")
    for body in (forged, "Scaled score: **600** (no marker at all)"):
        comment.get_issue_comment(sticky["id"]).edit(body)
        _, delivery = post_once(bot, repo, sha, results_dir, outbox)
        assert [f["kind"] for f in delivery.flags] == ["sticky_comment_edited"]
        (restored,) = [c for c in bot.comments(repo, number) if c["author"] == env.app.bot_login]
        assert restored["body"] == original


def test_an_infrastructure_failure_never_replaces_a_posted_grading(world, results_dir, tmp_path):
    env, bot, _, _, repos, _ = world
    repo = repos[2]
    sha = bot.branch_sha(repo, "main")
    outbox = posting.Outbox(tmp_path / "outbox")
    post_once(bot, repo, sha, results_dir, outbox)
    posting.deliver(posting.neutral(repo, sha, "runner lost"), bot, posting.Targets(), outbox)
    (run,) = bot.check_runs(repo, sha)
    assert run["title"].endswith("coding checks passed") and run["external_id"] == sha
