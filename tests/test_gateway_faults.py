"""No gateway call swallows an error: every endpoint the gateway uses, under every fault kind.

For each public Gateway method (the table below; a meta-check fails when one is missing), one
fault is injected on the test server for exactly the request the method makes: a 500, a
dropped connection, a secondary rate limit without Retry-After (403), or a primary rate limit
sent as 429. The call must then either have been retried and give the true answer (checked
against the server's own state, so that a "no", an empty list or a silent None fails), or
raise a GitHub* error. Nothing waits for real: the gateway's sleep moves the server's clock.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from github_env import ORG, TEAM, make_env

from mle_assess.errors import GitHubError, GitHubUnavailable
from mle_assess.github.gateway import Gateway

REPO = f"{ORG}/mle-alice"
R = "/repos/acme/mle-alice"
WORKFLOW = """name: grade
on:
  workflow_dispatch:
    inputs:
      sha:
        description: the commit
        required: true
jobs:
  grade:
    runs-on: ubuntu-latest
    steps:
      - run: echo grading
"""
KINDS = ("500", "drop", "secondary", "rate_limit")
# Methods that make no request of their own.
NO_REQUEST = {"app_id", "git_env", "pacing_estimate"}
# Methods that create something and so are not retried after an ambiguous failure (a 5xx or
# no answer: GitHub may have acted); the caller looks for what was made first (see post.py).
CREATES = {"create_comment", "create_check_run"}


class ClockSleeps(list):
    """The gateway's sleep: each wait is recorded and moves the server's clock instead."""

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.server.advance_clock(seconds)


@dataclass
class World:
    """An organisation with a repository in every state the gateway reads: a collaborator, a
    pending invitation, a feedback pull request with a comment, a check run, a workflow, an
    App webhook with a delivery, and pushes on record."""

    server: Any
    env: Any
    sleeps: ClockSleeps
    sha: str = ""
    head: str = ""
    pull: int = 0
    comment: int = 0
    run: int = 0
    invitation: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def root(self) -> Gateway:
        """A fresh App gateway (nothing cached) on the server's clock."""
        return Gateway(
            self.env.creds,
            self.env.policy(attempts=5, max_wait=3600.0),
            sleep=self.sleeps,
            clock=self.server.clock,
        )

    def bot(self) -> Gateway:
        return self.root().for_installation(ORG)


def build(server: Any) -> World:
    env = make_env(server)
    world = World(server, env, ClockSleeps(server))
    server.create_repo(
        ORG,
        "mle-alice",
        files={"README.md": "hello\n", ".github/workflows/grade.yml": WORKFLOW},
    )
    server.create_repo(ORG, "mle-template", is_template=True, files={"README.md": "template\n"})
    for login in ("carol", "dave", "erin"):
        server.add_user(login)
    server.add_collaborator(ORG, "mle-alice", "carol", "push")
    world.invitation = server.invite(ORG, "mle-alice", "dave")
    # The App's webhook points at a closed port: every delivery fails, and is listed.
    server.set_app_webhook(env.app.id, "http://127.0.0.1:9/hook")
    bot = world.bot()
    world.sha = bot.branch_sha(REPO, "main")
    bot.create_branch(REPO, "feedback", world.sha)
    bot.create_branch(REPO, "base2", world.sha)
    world.head = bot.put_file(REPO, "START.md", "start\n", "start", "main")
    world.pull = bot.open_pull(REPO, "Feedback", "main", "feedback", "")
    world.comment = bot.create_comment(REPO, world.pull, "first comment")
    world.run = bot.create_check_run(REPO, world.head, "MLE Assess", status="in_progress")
    server.deliveries_wait()
    # The events API lags behind pushes by up to hours (github-facts.md #6).
    world.sleeps(7 * 3600)
    world.sleeps.clear()
    return world


@dataclass(frozen=True)
class Case:
    """One endpoint: the request to fault (HTTP method and path regex), the call, and what
    the true answer or effect is."""

    method: str
    path: str
    call: Callable[[World], Any]
    check: Callable[[World, Any], None]


def _names(repos: list[dict]) -> set[str]:
    return {r["full_name"] for r in repos}


def _comments(w: World) -> dict[int, str]:
    return {c["id"]: c["body"] for c in w.bot().comments(REPO, w.pull)}


def _run(w: World, run_id: int) -> dict:
    return next(c for c in w.bot().check_runs(REPO, w.head) if c["id"] == run_id)


def _invitation(w: World) -> dict | None:
    return next((i for i in w.server.invitations(ORG, "mle-alice") if i["id"] == w.invitation),
                None)  # fmt: skip


CASES: dict[str, Case] = {
    # --- the App (JWT) and its installation tokens
    "installation_id": Case(
        "GET",
        r"/orgs/acme/installation$",
        lambda w: w.root().installation_id(ORG),
        lambda w, got: _eq(got, w.env.app.installation_id),
    ),
    "installation_token": Case(
        "POST",
        r"/app/installations/\d+/access_tokens$",
        lambda w: w.root().installation_token(ORG),
        lambda w, got: _eq(got[:4], "ghs_"),
    ),
    "installation_token_with_expiry": Case(
        "POST",
        r"/app/installations/\d+/access_tokens$",
        lambda w: w.root().installation_token_with_expiry(ORG),
        lambda w, got: _true(got[0].startswith("ghs_") and got[1] is not None),
    ),
    "for_installation": Case(
        "POST",
        r"/app/installations/\d+/access_tokens$",
        lambda w: w.root().for_installation(ORG),
        lambda w, got: _eq(got.repo(REPO)["name"], "mle-alice"),
    ),
    "login": Case(
        "GET",
        r"/api/v3/app$",
        lambda w: w.bot().login(),
        lambda w, got: _eq(got, "acme-hiring-grader[bot]"),
    ),
    "bot_login": Case(
        "GET",
        r"/api/v3/app$",
        lambda w: w.bot().bot_login(),
        lambda w, got: _eq(got, "acme-hiring-grader[bot]"),
    ),
    "hook_deliveries": Case(
        "GET",
        r"/app/hook/deliveries$",
        lambda w: w.root().hook_deliveries(),
        lambda w, got: _true(any(d["event"] == "push" and d["status_code"] != 200 for d in got)),
    ),
    "redeliver_hook": Case(
        "POST",
        r"/app/hook/deliveries/\d+/attempts$",
        lambda w: w.root().redeliver_hook(w.extra["delivery"]),
        lambda w, got: _true(
            w.server.deliveries_wait() is None and any(d.redelivery for d in w.server.deliveries)
        ),
    ),
    # --- repositories
    "repo": Case(
        "GET", rf"{R}$", lambda w: w.bot().repo(REPO), lambda w, got: _eq(got["name"], "mle-alice")
    ),
    "create_org_repo": Case(
        "POST",
        r"/orgs/acme/repos$",
        lambda w: w.bot().create_org_repo(ORG, "mle-new", private=True, is_template=False),
        lambda w, got: _true("acme/mle-new" in _names(w.bot().org_repos(ORG))),
    ),
    "generate_repo": Case(
        "POST",
        r"/repos/acme/mle-template/generate$",
        lambda w: w.bot().generate_repo(f"{ORG}/mle-template", ORG, "mle-bob", private=True),
        lambda w, got: _true(got["private"] and "acme/mle-bob" in _names(w.bot().org_repos(ORG))),
    ),
    "org_repos": Case(
        "GET",
        r"/orgs/acme/repos$",
        lambda w: w.bot().org_repos(ORG),
        lambda w, got: _true({"acme/mle-alice", "acme/mle-template"} <= _names(got)),
    ),
    "installation_repos": Case(
        "GET",
        r"/installation/repositories$",
        lambda w: w.bot().installation_repos(),
        lambda w, got: _true("acme/mle-alice" in _names(got)),
    ),
    # --- people
    "invite": Case(
        "PUT",
        rf"{R}/collaborators/erin$",
        lambda w: w.bot().invite(REPO, "erin"),
        lambda w, got: _true(got is True and "erin" in w.bot().pending_invitees(REPO)),
    ),
    "set_collaborator_permission": Case(
        "PUT",
        rf"{R}/collaborators/carol$",
        lambda w: w.bot().set_collaborator_permission(REPO, "carol", "pull"),
        lambda w, got: _true(
            got is None and w.bot().collaborator_permission(REPO, "carol") == "read"
        ),
    ),
    "is_collaborator": Case(
        "GET",
        rf"{R}/collaborators/carol$",
        lambda w: w.bot().is_collaborator(REPO, "carol"),
        lambda w, got: _eq(got, True),
    ),
    "collaborator_permission": Case(
        "GET",
        rf"{R}/collaborators/carol/permission$",
        lambda w: w.bot().collaborator_permission(REPO, "carol"),
        lambda w, got: _eq(got, "write"),
    ),
    "invitations": Case(
        "GET",
        rf"{R}/invitations$",
        lambda w: w.bot().invitations(REPO),
        lambda w, got: _true(
            [(i["id"], i["login"], i["expired"]) for i in got] == [(w.invitation, "dave", False)]
        ),
    ),
    "pending_invitees": Case(
        "GET",
        rf"{R}/invitations$",
        lambda w: w.bot().pending_invitees(REPO),
        lambda w, got: _eq(got, ["dave"]),
    ),
    "delete_invitation": Case(
        "DELETE",
        rf"{R}/invitations/\d+$",
        lambda w: w.bot().delete_invitation(REPO, w.invitation),
        lambda w, got: _eq(_invitation(w), None),
    ),
    "update_invitation": Case(
        "PATCH",
        rf"{R}/invitations/\d+$",
        lambda w: w.bot().update_invitation(REPO, w.invitation, "pull"),
        lambda w, got: _true(_invitation(w)["permission"] in ("pull", "read")),
    ),
    "grant_team": Case(
        "PUT",
        rf"/orgs/acme/teams/{TEAM}/repos/acme/mle-alice$",
        lambda w: w.bot().grant_team(ORG, TEAM, REPO, "push"),
        lambda w, got: _eq(w.bot().collaborator_permission(REPO, "reviewer"), "write"),
    ),
    # --- branches, files, pull requests
    "branch_sha": Case(
        "GET",
        rf"{R}/git/ref/heads/main$",
        lambda w: w.bot().branch_sha(REPO, "main"),
        lambda w, got: _eq(got, w.head),
    ),
    "create_branch": Case(
        "POST",
        rf"{R}/git/refs$",
        lambda w: w.bot().create_branch(REPO, "new", w.sha),
        lambda w, got: _eq(w.server.refs(ORG, "mle-alice").get("refs/heads/new"), w.sha),
    ),
    "put_file": Case(
        "PUT",
        rf"{R}/contents/NEW\.md$",
        lambda w: w.bot().put_file(REPO, "NEW.md", "new\n", "add", "main"),
        lambda w, got: _eq(w.server.refs(ORG, "mle-alice")["refs/heads/main"], got),
    ),
    "put_file:read": Case(
        "GET",
        rf"{R}/contents/START\.md$",
        lambda w: w.bot().put_file(REPO, "START.md", "changed\n", "change", "main"),
        lambda w, got: _true(
            got != w.head and w.server.refs(ORG, "mle-alice")["refs/heads/main"] == got
        ),
    ),  # fmt: skip
    "find_pull": Case(
        "GET",
        rf"{R}/pulls$",
        lambda w: w.bot().find_pull(REPO, "main", "feedback"),
        lambda w, got: _eq(got, w.pull),
    ),
    "open_pull": Case(
        "POST",
        rf"{R}/pulls$",
        lambda w: w.bot().open_pull(REPO, "Other", "main", "base2", ""),
        lambda w, got: _eq(w.bot().find_pull(REPO, "main", "base2"), got),
    ),
    # --- comments
    "comments": Case(
        "GET",
        rf"{R}/issues/\d+/comments$",
        lambda w: w.bot().comments(REPO, w.pull),
        lambda w, got: _eq([(c["id"], c["body"]) for c in got], [(w.comment, "first comment")]),
    ),
    "create_comment": Case(
        "POST",
        rf"{R}/issues/\d+/comments$",
        lambda w: w.bot().create_comment(REPO, w.pull, "second"),
        lambda w, got: _eq(_comments(w).get(got), "second"),
    ),
    "edit_comment": Case(
        "PATCH",
        rf"{R}/issues/comments/\d+$",
        lambda w: w.bot().edit_comment(REPO, w.pull, w.comment, "edited"),
        lambda w, got: _eq(_comments(w)[w.comment], "edited"),
    ),
    "delete_comment": Case(
        "DELETE",
        rf"{R}/issues/comments/\d+$",
        lambda w: w.bot().delete_comment(REPO, w.pull, w.comment),
        lambda w, got: _eq(_comments(w), {}),
    ),
    # --- check runs and statuses
    "check_runs": Case(
        "GET",
        rf"{R}/commits/[0-9a-f]+/check-runs$",
        lambda w: w.bot().check_runs(REPO, w.head),
        lambda w, got: _eq([(c["id"], c["app_id"]) for c in got], [(w.run, w.env.app.id)]),
    ),
    "create_check_run": Case(
        "POST",
        rf"{R}/check-runs$",
        lambda w: w.bot().create_check_run(REPO, w.head, "Other", status="queued"),
        lambda w, got: _eq(_run(w, got)["name"], "Other"),
    ),
    "update_check_run": Case(
        "PATCH",
        rf"{R}/check-runs/\d+$",
        lambda w: w.bot().update_check_run(REPO, w.run, status="completed", conclusion="neutral"),
        lambda w, got: _eq(_run(w, w.run)["conclusion"], "neutral"),
    ),
    "create_status": Case(
        "POST",
        rf"{R}/statuses/[0-9a-f]+$",
        lambda w: w.bot().create_status(
            REPO, w.head, state="success", description="graded", context="MLE Assess"
        ),
        lambda w, got: _answered(w, "POST", rf"{R}/statuses/", 201),
    ),
    # --- workflows, push times
    "dispatch": Case(
        "POST",
        rf"{R}/actions/workflows/grade\.yml/dispatches$",
        lambda w: w.bot().dispatch(REPO, "grade.yml", "main", {"sha": w.head}),
        lambda w, got: _eq([d["inputs"] for d in w.server.dispatches], [{"sha": w.head}]),
    ),
    "repo_activity": Case(
        "GET",
        rf"{R}/activity$",
        lambda w: w.bot().repo_activity(REPO, ref="main"),
        lambda w, got: _true(
            any(a["after"] == w.head and a["activity_type"] == "push" for a in got)
        ),
    ),
    "push_events": Case(
        "GET",
        rf"{R}/events$",
        lambda w: w.bot().push_events(REPO),
        lambda w, got: _true(any(e["sha"] == w.head for e in got)),
    ),
    "member_events": Case(
        "GET",
        rf"{R}/events$",
        lambda w: w.bot().member_events(REPO),
        # Nothing in this world adds a member through GitHub: the same answer as without a
        # fault, from a request that GitHub answered.
        lambda w, got: _true(
            got == w.bot().member_events(REPO) and _answered(w, "GET", rf"{R}/events$", 200) is None
        ),
    ),  # fmt: skip
    # --- git over HTTPS (no retries: git's own failure is raised)
    "git": Case(
        "GET",
        r"/git/acme/mle-alice\.git/info/refs",
        lambda w: w.bot().git("ls-remote", w.server.git_url(ORG, "mle-alice"), "refs/heads/main"),
        lambda w, got: _true(w.head in got),
    ),
}


def _eq(got: Any, want: Any) -> None:
    assert got == want


def _true(value: Any) -> None:
    assert value


def _answered(w: World, method: str, path: str, status: int) -> None:
    """The last request to `path` was answered with `status` (so the call had its effect)."""
    records = w.server.requests_matching(method, path)
    assert records and records[-1].status == status and records[-1].fault is None


def public_methods() -> set[str]:
    """Every public method of Gateway (fields such as `sleep` and properties excluded)."""
    fields = {f.name for f in dataclasses.fields(Gateway)}
    return {
        name
        for name, member in vars(Gateway).items()
        if not name.startswith("_") and name not in fields and inspect.isfunction(member)
    }


def test_every_public_gateway_method_is_in_the_fault_table():
    covered = {name.split(":")[0] for name in CASES}
    assert public_methods() - NO_REQUEST == covered, (
        "add each new Gateway method to CASES (or NO_REQUEST if it sends nothing)"
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_fault_is_retried_or_raised_never_read_as_an_answer(github_server, name, kind):
    case = CASES[name]
    world = build(github_server)
    if name == "redeliver_hook":
        world.extra["delivery"] = world.root().hook_deliveries()[0]["id"]
    if kind == "rate_limit":
        # A primary limit sent as 429: wait until its reset, measured on the server's clock.
        fault = github_server.inject(kind=kind, method=case.method, path=case.path, seconds=90,
                                   status=429)  # fmt: skip
    elif kind == "secondary":
        # A secondary limit as 403 without Retry-After: a minute, as GitHub asks.
        fault = github_server.inject(kind=kind, method=case.method, path=case.path, seconds=None)
    else:
        fault = github_server.inject(kind=kind, method=case.method, path=case.path)
    ambiguous = kind in ("500", "drop")
    must_raise = name == "git" or (ambiguous and name in CREATES)
    try:
        result = case.call(world)
    except GitHubError as exc:
        assert must_raise, f"{name} gave up after one {kind}: {exc}"
        if name != "git":
            assert isinstance(exc, GitHubUnavailable)
    else:
        assert not must_raise, f"{name} answered {result!r} after a {kind} it cannot retry"
        case.check(world, result)
        if kind == "secondary":
            assert 60.0 in world.sleeps  # waited a minute, not a backoff of a second
        if kind == "rate_limit":
            assert max(world.sleeps) >= 90  # waited until the reset
    assert fault.used == 1, f"the {kind} fault never reached {case.method} {case.path}"
