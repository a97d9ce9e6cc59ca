"""The gateway against the GitHub-shaped server: App tokens scoped as asked, PyGithub's errors
mapped to ours, and retries that wait as GitHub says, for every fault kind."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from github_env import ORG, make_env

from mle_assess.errors import (
    GitHubConflict,
    GitHubForbidden,
    GitHubInvalid,
    GitHubNotFound,
    GitHubUnavailable,
)
from mle_assess.github import post
from mle_assess.github.gateway import Gateway


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


# --- on the server's clock ------------------------------------------------------------------


class ClockSleeps(list):
    """The gateway's sleep: each wait is recorded and moves the server's clock instead."""

    def __init__(self, server) -> None:
        super().__init__()
        self.server = server

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.server.advance_clock(seconds)


def on_server_clock(env, **policy) -> tuple[Gateway, ClockSleeps]:
    """The App's gateway with the server's clock and a sleep that moves it."""
    sleeps = ClockSleeps(env.server)
    root = Gateway(env.creds, env.policy(**policy), sleep=sleeps, clock=env.server.clock)
    return root, sleeps


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_limit_without_retry_after_waits_a_minute_then_doubles(env, status):
    """GitHub: without Retry-After, wait at least a minute, and longer if it goes on."""
    env.server.inject(kind="secondary", path=r"/repos/acme/mle-alice$", times=3, status=status)
    root, sleeps = on_server_clock(env, attempts=5, max_wait=600)
    bot = root.for_installation(ORG)
    assert bot.repo(f"{ORG}/mle-alice")["name"] == "mle-alice"
    assert sleeps == [60.0, 120.0, 240.0]


def test_a_secondary_limit_past_the_longest_wait_is_unavailable(env):
    env.server.inject(kind="secondary", path=r"/repos/acme/mle-alice$", times=3)
    root, sleeps = on_server_clock(env, attempts=5, max_wait=100)
    with pytest.raises(GitHubUnavailable, match="wait 120 s") as caught:
        root.for_installation(ORG).repo(f"{ORG}/mle-alice")
    assert sleeps == [60.0] and caught.value.status == 403


@pytest.mark.parametrize("status", [403, 429])
def test_a_primary_limit_waits_until_its_reset_on_the_gateway_clock(env, status):
    """The reset is an epoch second on GitHub's clock: the wait is measured on the gateway's
    clock (here the server's, a day ahead of this machine's), never on time.time()."""
    env.server.advance_clock(86400)
    env.server.inject(kind="rate_limit", path=r"/repos/acme/mle-alice$", seconds=300,
                      status=status)  # fmt: skip
    root, sleeps = on_server_clock(env, max_wait=600)
    assert root.for_installation(ORG).repo(f"{ORG}/mle-alice")["name"] == "mle-alice"
    assert len(sleeps) == 1 and 299 <= sleeps[0] <= 302


def test_the_bot_login_is_read_from_get_app_once(env):
    bot = env.bot()
    assert bot.login() == bot.bot_login() == env.app.bot_login == "acme-hiring-grader[bot]"
    assert len(env.server.requests_matching("GET", r"/api/v3/app$")) == 1
    assert env.token_gateway(env.admin_token).login() == "admin"


def test_an_empty_repository_has_no_branch_and_other_git_calls_conflict(env):
    """GitHub answers 409 "Git Repository is empty." (github-facts.md #1)."""
    bot = env.bot()
    bot.create_org_repo(ORG, "empty", private=True, is_template=False)
    assert bot.branch_sha(f"{ORG}/empty", "main") is None
    assert env.server.requests_matching("GET", r"/empty/git/ref/heads/main$")[-1].status == 409
    with pytest.raises(GitHubConflict, match="empty") as caught:
        bot.create_branch(f"{ORG}/empty", "feedback", "a" * 40)
    assert caught.value.status == 409 and env.sleeps == []  # a conflict is not retried


def test_writes_are_paced_under_github_limits_which_the_server_enforces(env):
    """80 writes a minute (github-facts.md #12). Unpaced, the server refuses the 81st; paced,
    the 81st waits until the first has left the minute, and nothing is refused."""
    repo, server = f"{ORG}/mle-alice", env.server
    sha = env.bot().branch_sha(repo, "main")

    def statuses(bot: Gateway, count: int) -> list:
        """`count` commit statuses; the server's time as each was answered."""
        answered = []
        for i in range(count):
            bot.create_status(repo, sha, state="success", description=f"{i}", context=f"c{i}")
            answered.append(server.clock())
        return answered

    unpaced, _ = on_server_clock(env, writes_per_minute=None, writes_per_hour=None, max_wait=600)
    statuses(unpaced.for_installation(ORG), 85)
    assert server.write_limits.refused >= 1  # GitHub would have refused: the test is real
    server.advance_clock(3600)
    refused = server.write_limits.refused

    paced, sleeps = on_server_clock(env, max_wait=600)  # the defaults: 80 and 500
    bot = paced.for_installation(ORG)  # its token is a write too
    answered = statuses(bot, 85)
    assert server.write_limits.refused == refused
    # Write i+80 comes a minute or more after write i, and no wait was longer than that needs.
    assert all(
        b - a >= timedelta(seconds=60) for a, b in zip(answered, answered[80:], strict=False)
    )
    assert sleeps and 0 < sum(sleeps) <= 61


def test_pacing_is_shared_by_installations_and_estimated(env):
    """Small limits (3 a minute, 5 an hour) to see both windows: writes by two installation
    gateways of one App count together, and the estimate is the time they then take."""
    repo, server = f"{ORG}/mle-alice", env.server
    root, sleeps = on_server_clock(env, writes_per_minute=3, writes_per_hour=5, max_wait=600)
    sha = root.for_installation(ORG).branch_sha(repo, "main")  # write 1: a token
    one = root.for_installation(ORG)  # write 2
    two = root.for_installation(ORG, repositories=["mle-alice"])  # write 3
    assert sleeps == []
    start = server.clock()
    estimate = two.pacing_estimate(4)
    assert abs(estimate - one.pacing_estimate(4)) < timedelta(seconds=1)  # one pacer
    times = []
    for i, bot in enumerate([one, two, one, two]):
        bot.create_status(repo, sha, state="success", description="x", context=f"c{i}")
        times.append(server.clock())
    # Writes 4 and 5 wait for the minute; write 6 for the hour (5 in it); 7 goes with 6.
    offsets = [round((t - start).total_seconds()) for t in times]
    # (The tokens were answered a moment before `start`: a few seconds of slack.)
    assert all(55 <= o <= 60 for o in offsets[:2])
    assert 3595 <= offsets[2] <= 3600 and abs(offsets[3] - offsets[2]) <= 2
    assert abs((times[-1] - start) - estimate) < timedelta(seconds=2)
    assert two.pacing_estimate(0) == timedelta(0)


def test_pacing_off_means_no_pauses_and_no_limits():
    from mle_assess.github.gateway import RetryPolicy

    policy = RetryPolicy.from_env({"MLE_ASSESS_GITHUB_PACING": "off"})
    assert (policy.writes_per_minute, policy.writes_per_hour) == (None, None)
    assert (policy.between_requests, policy.between_writes) == (None, None)
    assert RetryPolicy.from_env({}).writes_per_minute == 80
    assert RetryPolicy.from_env({}).writes_per_hour == 500


# --- check-run text by bytes (github-facts.md #13) ------------------------------------------


def test_check_run_text_is_cut_by_utf8_bytes_and_github_accepts_it(env):
    """Text that fits by characters but not by bytes: GitHub refuses it uncut; `fit` cuts it
    between characters with its note inside the limit, and the check run is accepted."""
    bot, repo = env.bot(), f"{ORG}/mle-alice"
    sha = bot.branch_sha(repo, "main")
    text = "résumé ✓ 🧪 " * 5000  # 60,000 characters, 90,000 bytes
    assert len(text) < post.SUMMARY_LIMIT < len(text.encode())
    with pytest.raises(GitHubInvalid, match="bytesize"):
        bot.create_check_run(repo, sha, "raw", status="completed", conclusion="neutral",
                             output={"title": "raw", "summary": text})  # fmt: skip
    post.ensure_check(post.Delivery(repo=repo, sha=sha, results={"output": text}), bot)
    (run,) = bot.check_runs(repo, sha, post.CHECK_NAME)
    summary = run["summary"]
    assert len(summary.encode()) <= post.SUMMARY_LIMIT
    assert summary.endswith("the full text is in the pull-request comment)\n")
    kept = summary[: summary.index("\n\n(cut to fit")]
    assert text.startswith(kept) and len(kept.encode()) > post.SUMMARY_LIMIT - 100


@pytest.mark.parametrize("limit", range(120, 128))
def test_fit_never_cuts_inside_a_character(limit):
    text = "€🧪é" * 40  # 3-, 4- and 2-byte characters: every cut position is tried
    cut = post.fit(text, limit)
    assert len(cut.encode()) <= limit and "\ufffd" not in cut
    kept = cut[: cut.index("\n\n(cut")]
    note = len(cut.encode()) - len(kept.encode())
    assert text.startswith(kept)
    assert len((kept + text[len(kept)]).encode()) + note > limit  # nothing more would fit


def test_fit_leaves_text_within_the_limit_alone():
    assert post.fit("é" * 10, 20) == "é" * 10
    assert post.fit("é" * 11, 20) != "é" * 11


# --- people, invitations, deliveries and activity -----------------------------------------


def test_a_permission_change_answers_none_for_a_collaborator_and_an_invitation_otherwise(env):
    """PUT .../collaborators/{user}: 204 changes a collaborator's permission, 201 means they
    were not one and GitHub invited them (github-facts.md #8); the result is read back."""
    repo, server = f"{ORG}/mle-alice", env.server
    for login in ("carol", "erin"):
        server.add_user(login)
    server.add_collaborator(ORG, "mle-alice", "carol", "push")
    bot = env.bot()
    assert bot.collaborator_permission(repo, "carol") == "write"
    assert bot.set_collaborator_permission(repo, "carol", "pull") is None
    assert bot.collaborator_permission(repo, "carol") == "read"
    assert bot.is_collaborator(repo, "carol") is True
    invitation = bot.set_collaborator_permission(repo, "erin", "pull")
    assert isinstance(invitation, int)
    assert [i["id"] for i in bot.invitations(repo)] == [invitation]
    assert bot.collaborator_permission(repo, "erin") == "none"
    assert bot.is_collaborator(repo, "erin") is False
    assert bot.collaborator_permission(repo, "admin") == "admin"  # the organisation's owner


def test_an_organisation_base_role_above_the_permission_is_invalid(env):
    repo, server = f"{ORG}/mle-alice", env.server
    server.add_user("frank")
    server.add_org_member(ORG, "frank")
    server.set_base_permission(ORG, "write")
    server.add_collaborator(ORG, "mle-alice", "frank", "push")
    with pytest.raises(GitHubInvalid):
        env.bot().set_collaborator_permission(repo, "frank", "pull")


def test_expired_invitations_are_listed_but_not_pending_and_can_be_replaced(env):
    """Invitations expire after 7 days and stay listed with expired true (github-facts.md #5)."""
    repo, server = f"{ORG}/mle-alice", env.server
    server.add_user("dave")
    root, _ = on_server_clock(env)
    bot = root.for_installation(ORG)
    assert bot.invite(repo, "dave") is True
    (first,) = bot.invitations(repo)
    assert first["login"] == "dave" and first["expired"] is False
    assert first["created_at"] is not None and bot.pending_invitees(repo) == ["dave"]
    server.advance_clock(8 * 86400)
    bot = root.for_installation(ORG)  # a fresh token on the moved clock
    (expired,) = bot.invitations(repo)
    assert expired["id"] == first["id"] and expired["expired"] is True
    assert bot.pending_invitees(repo) == []
    bot.update_invitation(repo, first["id"], "pull")
    assert bot.invitations(repo)[0]["permission"] == "read"
    bot.delete_invitation(repo, first["id"])
    assert bot.invitations(repo) == []
    assert bot.invite(repo, "dave") is True
    assert bot.pending_invitees(repo) == ["dave"]


def test_hook_deliveries_are_read_newest_first_across_cursor_pages_and_since(env):
    server = env.server
    server.set_app_webhook(env.app.id, "http://127.0.0.1:9/hook")  # nobody listens: all fail
    root, _ = on_server_clock(env, per_page=2)
    bot = root.for_installation(ORG)
    repo = f"{ORG}/mle-alice"
    for i in range(3):
        bot.put_file(repo, f"F{i}.md", f"{i}\n", f"file {i}", "main")
        server.deliveries_wait()
        server.advance_clock(60)
    middle = server.clock() - timedelta(seconds=150)
    deliveries = root.hook_deliveries()
    assert len(deliveries) == 3 and [d["event"] for d in deliveries] == ["push"] * 3
    assert [d["delivered_at"] for d in deliveries] == sorted(
        (d["delivered_at"] for d in deliveries), reverse=True
    )
    assert all(d["status_code"] != 200 and not d["redelivery"] for d in deliveries)
    assert len(server.requests_matching("GET", r"/app/hook/deliveries$")) == 2  # 2 a page
    recent = root.hook_deliveries(since=middle)
    assert [d["id"] for d in recent] == [d["id"] for d in deliveries[:2]]
    root.redeliver_hook(deliveries[-1]["id"])
    server.deliveries_wait()
    again = root.hook_deliveries()[0]
    assert again["redelivery"] is True and again["guid"] == deliveries[-1]["guid"]


def test_repository_activity_is_read_newest_first_across_pages_with_filters(env):
    repo = f"{ORG}/mle-alice"
    bot = env.bot(per_page=2)
    heads = [bot.put_file(repo, f"F{i}.md", f"{i}\n", f"file {i}", "main") for i in range(3)]
    sha = bot.branch_sha(repo, "main")
    bot.create_branch(repo, "feedback", sha)
    pushes = bot.repo_activity(repo, ref="main", activity_type="push")
    assert [a["after"] for a in pushes[:3]] == heads[::-1]
    assert all(a["ref"] == "refs/heads/main" and a["timestamp"] is not None for a in pushes)
    assert pushes[0]["actor"] == env.app.bot_login
    everything = bot.repo_activity(repo)
    assert {"push", "branch_creation"} <= {a["activity_type"] for a in everything}
