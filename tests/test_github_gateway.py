"""The gateway against the GitHub-shaped server: App tokens scoped as asked, PyGithub's errors
mapped to ours, and retries that wait as GitHub says, for every fault kind."""

from __future__ import annotations

import time

import pytest
from github_env import ORG, make_env

from mle_assess.errors import GitHubForbidden, GitHubInvalid, GitHubNotFound, GitHubUnavailable


@pytest.fixture
def env(github_server):
    env = make_env(github_server)
    github_server.create_repo(ORG, "mle-alice", files={"README.md": "hello\n"})
    return env


def gets_of(server, path):
    return [r for r in server.requests_matching("GET", path)]


def test_an_installation_token_can_be_limited_to_one_repository_and_to_reading(env):
    env.server.create_repo(ORG, "mle-bob", files={"README.md": "bob\n"})
    reader = env.root().for_installation(
        ORG, repositories=["mle-alice"], permissions={"contents": "read"}
    )
    assert reader.repo(f"{ORG}/mle-alice")["private"] is True
    with pytest.raises(GitHubNotFound):
        reader.repo(f"{ORG}/mle-bob")
    sha = reader.branch_sha(f"{ORG}/mle-alice", "main")
    with pytest.raises(GitHubForbidden):
        reader.create_branch(f"{ORG}/mle-alice", "feedback", sha)
    assert env.bot().login() == env.app.bot_login == "acme-hiring-grader[bot]"


@pytest.mark.parametrize("kind", ["500", "502", "drop"])
def test_server_errors_and_dropped_connections_are_retried_with_backoff(env, kind):
    env.server.inject(kind=kind, method="GET", path=r"/repos/acme/mle-alice$", times=2)
    bot = env.bot()
    assert bot.repo(f"{ORG}/mle-alice")["name"] == "mle-alice"
    assert env.sleeps == [0.01, 0.02]  # backoff doubles
    assert len(gets_of(env.server, r"/repos/acme/mle-alice$")) == 3


def test_primary_rate_limit_waits_until_the_reset(env):
    env.server.inject(kind="rate_limit", path=r"/repos/acme/mle-alice$", seconds=20)
    assert env.bot().repo(f"{ORG}/mle-alice")["name"] == "mle-alice"
    assert len(env.sleeps) == 1 and 18 <= env.sleeps[0] <= 22  # reset - now, plus a second


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_waits_retry_after(env, status):
    env.server.inject(kind="secondary", path=r"/repos/acme/mle-alice$", seconds=7, status=status)
    assert env.bot().repo(f"{ORG}/mle-alice")["name"] == "mle-alice"
    assert env.sleeps == [7.0]


def test_a_slow_answer_times_out_and_is_retried(env):
    env.server.inject(kind="slow", path=r"/repos/acme/mle-alice$", seconds=3)
    started = time.monotonic()
    assert env.bot(timeout=1).repo(f"{ORG}/mle-alice")["name"] == "mle-alice"
    assert env.sleeps == [0.01] and time.monotonic() - started < 3


def test_a_wait_beyond_the_limit_fails_at_once(env):
    env.server.inject(kind="rate_limit", path=r"/repos/acme/mle-alice$", seconds=3600)
    with pytest.raises(GitHubUnavailable, match="asks to wait"):
        env.bot(max_wait=60).repo(f"{ORG}/mle-alice")
    assert env.sleeps == []


def test_lasting_failures_end_as_unavailable(env):
    env.server.inject(kind="502", path=r"/repos/acme/mle-alice$", times=10)
    with pytest.raises(GitHubUnavailable, match="502"):
        env.bot(attempts=3).repo(f"{ORG}/mle-alice")
    assert len(gets_of(env.server, r"/repos/acme/mle-alice$")) == 3


def test_errors_are_mapped_and_not_retried(env):
    bot = env.bot()
    with pytest.raises(GitHubNotFound):
        bot.repo(f"{ORG}/nobody")
    sha = bot.branch_sha(f"{ORG}/mle-alice", "main")
    bot.create_branch(f"{ORG}/mle-alice", "feedback", sha)
    with pytest.raises(GitHubInvalid, match="already exists"):
        bot.create_branch(f"{ORG}/mle-alice", "feedback", sha)
    assert env.sleeps == []


def test_check_runs_need_an_app(env):
    plain = env.token_gateway(env.admin_token)
    sha = plain.branch_sha(f"{ORG}/mle-alice", "main")
    with pytest.raises(GitHubForbidden, match="403"):
        plain.create_check_run(f"{ORG}/mle-alice", sha, "MLE Assess", status="completed",
                               conclusion="neutral")  # fmt: skip
    bot = env.bot()
    run_id = bot.create_check_run(
        f"{ORG}/mle-alice", sha, "MLE Assess", status="completed", conclusion="neutral"
    )
    (found,) = bot.check_runs(f"{ORG}/mle-alice", sha)
    assert found["id"] == run_id and found["app_id"] == env.app.id


def test_lists_are_read_whole_across_pages(env):
    bot = env.bot(per_page=30)
    repo = f"{ORG}/mle-alice"
    sha = bot.branch_sha(repo, "main")
    bot.create_branch(repo, "feedback", sha)
    bot.put_file(repo, "START.md", "start\n", "start", "main")
    number = bot.open_pull(repo, "Feedback", "main", "feedback", "")
    for i in range(65):
        bot.create_comment(repo, number, f"comment {i}")
    comments = bot.comments(repo, number)
    assert [c["body"] for c in comments] == [f"comment {i}" for i in range(65)]
    assert len(env.server.requests_matching("GET", r"/issues/\d+/comments")) == 3  # 30 a page


def test_an_installation_token_is_renewed_before_it_expires(env):
    """Installation tokens last an hour; a long-running service's gateway mints a new one
    shortly before, and the old one, once expired, is no longer used."""
    from datetime import UTC, datetime, timedelta

    moment = [datetime.now(UTC)]
    root = env.root()
    root.clock = lambda: moment[0]
    bot = root.for_installation(ORG)
    first = bot.token
    assert bot.repo(f"{ORG}/mle-alice")["private"] is True
    moment[0] += timedelta(minutes=50)  # still ten minutes to go: kept
    assert bot.token == first
    moment[0] += timedelta(minutes=6)  # within five minutes of the hour: renewed
    env.server.state.tokens[first].expires_at = time.time() - 1  # and GitHub drops the old
    before = len(env.server.requests_matching("POST", "/access_tokens"))
    assert bot.repo(f"{ORG}/mle-alice")["private"] is True  # works: a new token was minted
    assert len(env.server.requests_matching("POST", "/access_tokens")) == before + 1
    assert bot._token != first
