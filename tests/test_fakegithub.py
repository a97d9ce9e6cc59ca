"""The GitHub-shaped loopback server, driven the way our gateway will drive it: through
PyGithub, raw HTTP and real `git` commands. Each test names the GitHub behaviour it pins."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from fakegithub import AppCredentials, FakeGitHub, bypass_proxies
from fakegithub import fake_github as _fake_github  # noqa: F401  (registers the fixture)
from fakegithub.gitclient import git
from fakegithub.receiver import Receiver
from github import Auth, Github, GithubException, GithubIntegration, GithubRetry
from github.GithubException import RateLimitExceededException, UnknownObjectException

SECRET = "s3cret-hook"
# A grading workflow as the server reads it for `workflow_dispatch`: its trigger and inputs.
GRADE_YML = """name: grade
on:
  workflow_dispatch:
    inputs:
      repo: {description: the candidate repository, required: true}
      sha: {description: the commit to grade, required: true}
jobs:
  grade: {runs-on: ubuntu-latest, steps: [{run: echo grade}]}
"""


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that start their own server bypass proxies too."""
    bypass_proxies(monkeypatch)


# ----- helpers ---------------------------------------------------------------------------


def gh(server: FakeGitHub, token: str | None = None, **options: Any) -> Github:
    """PyGithub pointed at the server: no retries and no pauses unless a test asks."""
    options = {
        "retry": None,
        "seconds_between_requests": None,
        "seconds_between_writes": None,
        "timeout": 15,
        **options,
    }
    return Github(base_url=server.api_url, auth=Auth.Token(token) if token else None, **options)


def integration(server: FakeGitHub, app: AppCredentials) -> GithubIntegration:
    return GithubIntegration(
        auth=Auth.AppAuth(app.id, app.private_key_pem),
        base_url=server.api_url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def commit_and_push(work: Path, name: str, text: str, branch: str = "main") -> str:
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"Write {name}", cwd=work)
    git("push", "-q", "origin", f"HEAD:{branch}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


def api(
    server: FakeGitHub, method: str, path: str, token: str | None = None, **kwargs: Any
) -> requests.Response:
    """A raw request, for status lines and headers PyGithub hides."""
    kwargs.setdefault("timeout", 15)
    kwargs.setdefault("headers", {"Authorization": f"token {token}"} if token else {})
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, server.api_url + path, **kwargs)


@dataclass
class World:
    """acme: alice owns it; cand is a candidate; rev is in the reviewers' team; the
    mle-assess App is installed on the org; acme/cand-1 has a main branch."""

    server: FakeGitHub
    app: AppCredentials
    alice: str
    cand: str
    rev: str
    bot: str  # an installation token with every permission of the App
    repo_id: int


@pytest.fixture
def world(fake_github: FakeGitHub) -> World:
    server = fake_github
    alice = server.add_user("alice", name="Alice Admin")
    cand = server.add_user("cand")
    rev = server.add_user("rev")
    server.add_org("acme", owners=("alice",))
    server.add_team("acme", "Reviewers", members=["rev"])
    app = server.add_app("mle-assess", "acme")
    repo_id = server.create_repo("acme", "cand-1", files={"README.md": "# Assessment\n"})
    bot = server.installation_token(app.installation_id)
    return World(server, app, alice, cand, rev, bot, repo_id)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    yield hooks
    hooks.close()


def verify_signature(headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Hub-Signature-256"], expected)


def clone(server: FakeGitHub, tmp_path: Path, token: str, name: str = "cand-1") -> Path:
    work = tmp_path / f"clone-{uuid.uuid4().hex[:6]}"
    git("clone", "-q", server.clone_url("acme", name, token), str(work))
    return work


def open_feedback_pr(w: World) -> int:
    """Start file on main, `feedback` at the template commit, PR main -> feedback."""
    with gh(w.server, w.alice) as g:
        repo = g.get_repo("acme/cand-1")
        start = repo.get_branch("main").commit.sha
        repo.create_git_ref("refs/heads/feedback", start)
        repo.create_file("START.md", "Start file", "Your window: 90 minutes\n", branch="main")
        return repo.create_pull(base="feedback", head="main", title="Feedback", body="").number


# ----- App authentication ------------------------------------------------------------------


def test_app_jwt_reaches_app_endpoints_and_mints_scoped_tokens(world: World, tmp_path: Path):
    server, app = world.server, world.app
    server.create_repo("acme", "other", files={"x.txt": "x"})
    with integration(server, app) as gi:
        assert gi.get_app().slug == "mle-assess"
        assert [i.id for i in gi.get_installations()] == [app.installation_id]
        assert gi.get_org_installation("acme").id == app.installation_id
        assert gi.get_repo_installation("acme", "cand-1").id == app.installation_id
        full = gi.get_access_token(app.installation_id)
        assert full.token.startswith("ghs_") and full.permissions["checks"] == "write"
    jwt_token = Auth.AppAuth(app.id, app.private_key_pem).create_jwt()

    # One repository, read-only: what the grading workflow's `fetch` job gets.
    response = api(
        server,
        "POST",
        f"/app/installations/{app.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {jwt_token}"},
        json={"repositories": ["cand-1"], "permissions": {"contents": "read"}},
    )
    assert response.status_code == 201
    scoped = response.json()
    assert scoped["permissions"] == {"contents": "read", "metadata": "read"}
    assert scoped["repository_selection"] == "selected"
    assert [r["full_name"] for r in scoped["repositories"]] == ["acme/cand-1"]
    assert datetime.fromisoformat(scoped["expires_at"]) > datetime.now(UTC)
    token = scoped["token"]

    listing = api(server, "GET", "/installation/repositories", token)
    assert listing.json()["total_count"] == 1

    work = clone(server, tmp_path, token)
    assert (work / "README.md").read_text() == "# Assessment\n"
    (work / "x.txt").write_text("x")
    git("add", "x.txt", cwd=work)
    git("commit", "-q", "-m", "x", cwd=work)
    refused = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert refused.returncode != 0 and "403" in refused.stderr

    with gh(server, token) as g:
        repo = g.get_repo("acme/cand-1")
        with pytest.raises(UnknownObjectException):
            g.get_repo("acme/other")
        with pytest.raises(GithubException) as denied:
            repo.create_check_run("grade", repo.get_branch("main").commit.sha)
        assert denied.value.status == 403
    number = open_feedback_pr(world)
    with gh(server, token) as g, pytest.raises(GithubException) as denied:
        g.get_repo("acme/cand-1").get_pull(number).create_issue_comment("hi")
    assert denied.value.status == 403


def test_app_jwt_claims_are_checked(world: World):
    server, app = world.server, world.app
    now = int(time.time())

    def status(claims: dict[str, Any], key: str = app.private_key_pem) -> int:
        token = jwt.encode(claims, key, algorithm="RS256")
        return api(server, "GET", "/app", headers={"Authorization": f"Bearer {token}"}).status_code

    assert status({"iat": now - 60, "exp": now + 540, "iss": str(app.id)}) == 200
    assert status({"iat": now - 60, "exp": now + 1200, "iss": str(app.id)}) == 401
    assert status({"iat": now - 900, "exp": now - 300, "iss": str(app.id)}) == 401
    other = server.add_app("other-app", "acme")
    assert status({"iat": now, "exp": now + 60, "iss": str(app.id)}, other.private_key_pem) == 401
    assert api(server, "GET", "/app", world.alice).status_code == 401


def test_what_pygithub_sends_for_each_kind_of_auth(world: World):
    """Auth.Token and installation tokens go as `token X`, the App's JWT as `Bearer X`;
    the server also takes `Bearer` for tokens, as GitHub does."""
    server, app = world.server, world.app
    with gh(server, world.alice) as g:
        assert g.get_user().login == "alice"
    installation_auth = Auth.AppAuth(app.id, app.private_key_pem).get_installation_auth(
        app.installation_id
    )
    with Github(base_url=server.api_url, auth=installation_auth, retry=None) as g:
        assert g.get_repo("acme/cand-1").name == "cand-1"
    schemes = {
        (r.method, r.path.removeprefix("/api/v3"), r.auth_scheme, r.identity)
        for r in server.requests
    }
    assert ("GET", "/user", "token", "alice") in schemes
    token_path = f"/app/installations/{app.installation_id}/access_tokens"
    assert ("POST", token_path, "Bearer", "app:mle-assess") in schemes
    assert ("GET", "/repos/acme/cand-1", "token", "mle-assess[bot]") in schemes
    bearer = api(server, "GET", "/user", headers={"Authorization": f"Bearer {world.cand}"})
    assert bearer.json()["login"] == "cand"
    bad = api(server, "GET", "/user", "ghp_nope")
    assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
    as_bot = api(server, "GET", "/user", world.bot)
    assert as_bot.status_code == 403


# ----- repositories ------------------------------------------------------------------------


def test_generated_repository_is_public_unless_asked_private(world: World):
    server = world.server
    server.create_repo(
        "acme",
        "template",
        is_template=True,
        files={"README.md": "brief\n", "pipeline.py": "pass\n"},
    )
    template_head = server.refs("acme", "template")["refs/heads/main"]
    git("--git-dir", str(server.repo_path("acme", "template")), "branch", "extra", "main")
    with gh(server, world.alice) as g:
        org, template = g.get_organization("acme"), g.get_repo("acme/template")
        public = org.create_repo_from_template("cand-2", template)
        private = org.create_repo_from_template("cand-3", template, private=True)
        assert public.private is False and private.private is True
        assert private.template_repository.full_name == "acme/template"
        server.advance_clock(server.generation_seconds)  # generation finishes
        head = private.get_branch("main").commit
        assert head.sha != template_head and head.parents == []
        assert head.commit.tree.sha == template.get_commit(template_head).commit.tree.sha
        assert private.get_contents("pipeline.py").decoded_content == b"pass\n"
        with pytest.raises(GithubException) as not_template:
            org.create_repo_from_template("cand-4", g.get_repo("acme/cand-1"))
        assert not_template.value.status == 422
    assert set(server.refs("acme", "cand-3")) == {"refs/heads/main"}
    body = {"owner": "acme", "name": "cand-5", "private": True, "include_all_branches": True}
    response = api(server, "POST", "/repos/acme/template/generate", world.alice, json=body)
    assert response.status_code == 201 and response.json()["private"] is True
    assert set(server.refs("acme", "cand-5")) == {"refs/heads/main", "refs/heads/extra"}


def test_fresh_template_history_gives_one_root_commit(tmp_path: Path):
    # Simpler on purpose: generation finishes at once, since only the history is looked at
    # here (the wait is shown in test_fakegithub_repos.py).
    with FakeGitHub(tmp_path / "fresh", generation_seconds=0) as server:
        token = server.add_user("alice")
        server.create_repo("alice", "template", is_template=True, files={"a.txt": "a"})
        body = {"name": "copy"}
        response = api(server, "POST", "/repos/alice/template/generate", token, json=body)
        assert response.status_code == 201 and response.json()["private"] is False
        with gh(server, token) as g:
            head = g.get_repo("alice/copy").get_commit("main")
        assert head.sha != server.refs("alice", "template")["refs/heads/main"]
        assert head.parents == [] and head.commit.message == "Initial commit"
        assert not server.errors


def test_org_repositories_are_created_and_listed_page_by_page(world: World):
    with gh(world.server, world.alice, per_page=5) as g:
        org = g.get_organization("acme")
        team_id = org.get_team_by_slug("reviewers").id
        made = org.create_repo(
            "template", private=True, is_template=True, auto_init=True, team_id=team_id
        )
        assert made.private and made.is_template and made.permissions.admin
        assert made.get_contents("README.md").decoded_content == b"# template\n"
        for n in range(10):
            org.create_repo(f"extra-{n}", private=True)
        with pytest.raises(GithubException) as taken:
            org.create_repo("extra-0")
        assert taken.value.status == 422
        names = [r.name for r in org.get_repos()]
        assert len(names) == 12 and names[0] == "extra-9"
    # Only the team's grant, not the organisation's base role (GitHub's default "read").
    world.server.set_base_permission("acme", "none")
    with gh(world.server, world.rev) as g:
        assert [r.name for r in g.get_organization("acme").get_repos()] == ["template"]
    with gh(world.server, world.cand) as g, pytest.raises(GithubException) as denied:
        g.get_organization("acme").create_repo("mine")
    assert denied.value.status == 403


def test_private_repositories_are_hidden_and_writes_need_permission(world: World):
    with gh(world.server, world.cand) as g, pytest.raises(UnknownObjectException):
        g.get_repo("acme/cand-1")
    with gh(world.server, world.alice) as g:
        g.get_organization("acme").get_team_by_slug("reviewers").update_team_repository(
            g.get_repo("acme/cand-1"), "pull"
        )
    with gh(world.server, world.rev) as g:
        repo = g.get_repo("acme/cand-1")
        assert repo.permissions.pull and not repo.permissions.push
        with pytest.raises(GithubException) as denied:
            repo.create_file("x.txt", "x", "x")
        assert denied.value.status == 403
        assert [
            r.full_name
            for r in g.get_organization("acme").get_team_by_slug("reviewers").get_repos()
        ] == ["acme/cand-1"]


def test_contents_put_makes_a_real_commit_visible_to_git_clone(world: World, tmp_path: Path):
    with gh(world.server, world.alice) as g:
        repo = g.get_repo("acme/cand-1")
        created = repo.create_file("docs/start.md", "Add start file", "hello\n", branch="main")
        sha = created["commit"].sha
        with pytest.raises(GithubException) as missing_sha:
            repo.create_file("docs/start.md", "again", "hi\n")
        assert missing_sha.value.status == 422
        with pytest.raises(GithubException) as stale:
            repo.update_file("docs/start.md", "edit", "hi\n", sha="0" * 40)
        assert stale.value.status == 409
        updated = repo.update_file(
            "docs/start.md", "Edit start", "bye\n", sha=created["content"].sha
        )
        assert [c.name for c in repo.get_contents("docs")] == ["start.md"]
    work = clone(world.server, tmp_path, world.alice)
    assert git("rev-parse", "HEAD", cwd=work).stdout.strip() == updated["commit"].sha
    assert git("rev-parse", "HEAD~1", cwd=work).stdout.strip() == sha
    assert (work / "docs" / "start.md").read_text() == "bye\n"
    author = git("log", "-1", "--format=%an <%ae>", cwd=work).stdout.strip()
    assert author.startswith("Alice Admin <") and author.endswith("@users.noreply.github.com>")


# ----- pushes, events and webhooks ---------------------------------------------------------


def test_push_records_event_pushed_at_and_a_signed_webhook(
    world: World, receiver: Receiver, tmp_path: Path
):
    server = world.server
    server.add_collaborator("acme", "cand-1", "cand")
    server.add_webhook("acme", receiver.url, secret=SECRET, events=["push"])
    work = clone(server, tmp_path, world.cand)
    before = time.time()
    sha = commit_and_push(work, "answers.yaml", "q1: b\n")
    server.deliveries_wait()
    server.advance_clock(server.events_lag_seconds)  # the events API shows it only then

    with gh(server, world.cand) as g:
        repo = g.get_repo("acme/cand-1")
        event = repo.get_events()[0]
        assert event.type == "PushEvent" and event.actor.login == "cand"
        assert event.payload["head"] == sha and event.payload["ref"] == "refs/heads/main"
        assert event.payload["size"] == 1
        pushed_at = repo.pushed_at.timestamp()
        assert before - 1 <= pushed_at <= time.time() + 1
        assert abs(event.created_at.timestamp() - pushed_at) < 1

    [(headers, payload, raw)] = receiver.of("push")
    assert verify_signature(headers, raw)
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["Content-Type"] == "application/json"
    uuid.UUID(headers["X-GitHub-Delivery"])
    assert payload["after"] == sha and payload["head_commit"]["id"] == sha
    assert payload["repository"]["full_name"] == "acme/cand-1"
    assert payload["repository"]["pushed_at"] == int(pushed_at)
    assert payload["pusher"]["name"] == "cand" and payload["sender"]["login"] == "cand"

    delivery = server.deliveries[0]
    assert delivery.status == 202 and not delivery.redelivery
    again = server.redeliver(delivery.id)
    replay_headers, replay_body = receiver.received[-1]
    assert replay_headers["X-GitHub-Delivery"] == headers["X-GitHub-Delivery"]
    assert replay_body == raw
    assert again.redelivery and again.id != delivery.id and again.guid == delivery.guid


def test_git_http_refuses_unknown_tokens_and_readers_push(world: World, tmp_path: Path):
    server = world.server
    unknown = git(
        "clone",
        "-q",
        server.clone_url("acme", "cand-1", "ghp_unknown"),
        str(tmp_path / "a"),
        check=False,
    )
    assert unknown.returncode != 0
    outsider = git(
        "clone",
        "-q",
        server.clone_url("acme", "cand-1", world.cand),
        str(tmp_path / "b"),
        check=False,
    )
    assert outsider.returncode != 0
    server.add_collaborator("acme", "cand-1", "rev", "pull")
    work = clone(server, tmp_path, world.rev)
    (work / "f").write_text("f")
    git("add", "f", cwd=work)
    git("commit", "-q", "-m", "f", cwd=work)
    refused = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert refused.returncode != 0 and "403" in refused.stderr
    git_requests = server.requests_matching(None, r"^/git/")
    assert {401, 403} <= {r.status for r in git_requests}
    assert "Basic" in {r.auth_scheme for r in git_requests}


def test_file_url_push_is_recorded_on_notice(world: World, tmp_path: Path):
    server = world.server
    work = tmp_path / "file-clone"
    git("clone", "-q", server.file_url("acme", "cand-1"), str(work))
    sha = commit_and_push(work, "a.txt", "a")
    assert server.notice_push("acme", "cand-1", "alice") == ["refs/heads/main"]
    assert server.events("acme", "cand-1")[0]["payload"]["head"] == sha


def test_large_push_is_chunked_and_large_fetch_is_gzipped(world: World, tmp_path: Path):
    server = world.server
    work = clone(server, tmp_path, world.alice)
    for n in range(30):
        git("checkout", "-q", "-b", f"topic-{n}", "main", cwd=work)
        (work / f"topic-{n}.txt").write_text(str(n))
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", f"topic {n}", cwd=work)
    (work / "blob.bin").write_bytes(os.urandom(300_000))
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "blob", cwd=work)
    git("-c", "http.postBuffer=65536", "push", "-q", "origin", "--all", cwd=work)
    assert len(server.refs("acme", "cand-1")) == 31
    assert len(server.events("acme", "cand-1")) == 30
    copy = tmp_path / "copy"
    url = server.clone_url("acme", "cand-1", world.alice)
    git("-c", "protocol.version=0", "clone", "-q", "--branch", "topic-29", url, str(copy))
    assert (copy / "blob.bin").read_bytes() == (work / "blob.bin").read_bytes()
    fetches = server.requests_matching("POST", r"/git-upload-pack$")
    assert "gzip" in {r.content_encoding for r in fetches}
    assert not server.git_errors


def test_inline_webhooks_are_delivered_before_git_push_returns(tmp_path: Path):
    """The receiver calls the API back while the push is being answered, as ours will."""
    with FakeGitHub(tmp_path / "inline", inline_webhooks=True) as server:
        token = server.add_user("cand")
        server.create_repo(
            "cand", "work", files={"a.txt": "a", ".github/workflows/grade.yml": GRADE_YML}
        )
        bot_app = server.add_app("mle-assess", "cand")
        bot = server.installation_token(bot_app.installation_id)

        def dispatch(payload: dict[str, Any]) -> None:
            inputs = {"repo": payload["repository"]["full_name"], "sha": payload["after"]}
            body = {"ref": "main", "inputs": inputs}
            path = "/repos/cand/work/actions/workflows/grade.yml/dispatches"
            assert api(server, "POST", path, bot, json=body).status_code == 204

        hooks = Receiver(on_post=lambda headers, payload: dispatch(payload))
        try:
            server.add_webhook("cand/work", hooks.url, secret=SECRET, events=["push"])
            work = tmp_path / "work"
            git("clone", "-q", server.clone_url("cand", "work", token), str(work))
            sha = commit_and_push(work, "b.txt", "b")
            assert [d["inputs"]["sha"] for d in server.dispatches] == [sha]
            assert server.deliveries[0].status == 202
        finally:
            hooks.close()
        assert not server.errors


def test_stopping_closes_keepalive_connections_and_joins_threads(tmp_path: Path):
    server = FakeGitHub(tmp_path / "s").start()
    token = server.add_user("u")
    with requests.Session() as session:
        session.trust_env = False
        headers = {"Authorization": f"token {token}"}
        assert session.get(f"{server.api_url}/user", headers=headers, timeout=5).ok
        server.stop()
        leftovers = [
            t
            for t in threading.enumerate()
            if t.name.startswith("fakegithub") or "process_request_thread" in t.name
        ]
        assert leftovers == []


def test_accepted_invitation_adds_collaborator_with_event_and_webhook(
    world: World, receiver: Receiver
):
    server = world.server
    server.add_webhook("acme/cand-1", receiver.url, secret=SECRET, events=["member"])
    with gh(server, world.alice) as g:
        repo = g.get_repo("acme/cand-1")
        invitation = repo.add_to_collaborators("cand", "push")
        assert invitation is not None and invitation.permissions == "write"
        assert not repo.has_in_collaborators("cand")
        assert [i.invitee.login for i in repo.get_pending_invitations()] == ["cand"]
    with gh(server, world.cand) as g:
        me = g.get_user()
        [mine] = list(me.get_invitations())
        assert mine.repository.full_name == "acme/cand-1"
        me.accept_invitation(mine)
        assert g.get_repo("acme/cand-1").permissions.push
    server.deliveries_wait()
    server.advance_clock(server.events_lag_seconds)  # the events API shows it only then
    with gh(server, world.alice) as g:
        repo = g.get_repo("acme/cand-1")
        assert repo.has_in_collaborators("cand")
        assert repo.add_to_collaborators("cand", "push") is None  # already one: 204
        event = repo.get_events()[0]
        assert event.type == "MemberEvent" and event.payload["member"]["login"] == "cand"
        assert event.payload["action"] == "added"
    collaborators = api(server, "GET", "/repos/acme/cand-1/collaborators", world.alice).json()
    roles = {c["login"]: c["role_name"] for c in collaborators}
    # rev is an organisation member (through the team): the base role "read" reaches every repo.
    assert roles == {"alice": "admin", "cand": "write", "rev": "read"}
    [(headers, payload, raw)] = receiver.of("member")
    assert verify_signature(headers, raw)
    assert payload["action"] == "added" and payload["member"]["login"] == "cand"
    assert payload["repository"]["full_name"] == "acme/cand-1"


# ----- pagination ----------------------------------------------------------------------------


def test_lists_paginate_with_github_link_headers(world: World):
    server = world.server
    number = open_feedback_pr(world)
    with requests.Session() as session:
        session.trust_env = False
        session.headers["Authorization"] = f"token {world.alice}"
        url = f"{server.api_url}/repos/acme/cand-1/issues/{number}/comments"
        for n in range(75):
            session.post(url, json={"body": f"comment {n}"}, timeout=15).raise_for_status()
        pages = [
            session.get(url, params={"per_page": 30, "page": p}, timeout=15) for p in (1, 2, 3)
        ]
    base = f"{server.api_url}/repositories/{world.repo_id}/issues/{number}/comments"

    def link(page: int, rel: str) -> str:
        return f'<{base}?per_page=30&page={page}>; rel="{rel}"'

    assert pages[0].headers["Link"] == f"{link(2, 'next')}, {link(3, 'last')}"
    assert pages[1].headers["Link"] == (
        f"{link(1, 'prev')}, {link(3, 'next')}, {link(3, 'last')}, {link(1, 'first')}"
    )
    assert pages[2].headers["Link"] == f"{link(2, 'prev')}, {link(1, 'first')}"
    assert [len(p.json()) for p in pages] == [30, 30, 15]

    server.requests.clear()
    with gh(server, world.alice, per_page=30) as g:
        comments = list(g.get_repo("acme/cand-1").get_pull(number).get_issue_comments())
    assert [c.body for c in comments] == [f"comment {n}" for n in range(75)]
    assert len(server.requests_matching("GET", r"/comments$")) == 3
    with gh(server, world.alice) as g:
        assert g.get_repo("acme/cand-1").get_pull(number).get_issue_comments().totalCount == 75


# ----- check runs, statuses, dispatches -------------------------------------------------------


def test_check_runs_need_an_app_and_carry_it(world: World):
    server = world.server
    intruder = server.add_app("intruder", "acme")
    intruder_token = server.installation_token(intruder.installation_id)
    with gh(server, world.alice) as g:
        repo = g.get_repo("acme/cand-1")
        sha = repo.get_branch("main").commit.sha
        with pytest.raises(GithubException) as refused:
            repo.create_check_run("MLE Assess", sha, status="completed", conclusion="success")
        assert refused.value.status == 403
        assert refused.value.data["message"] == "You must authenticate via a GitHub App."
        status = repo.get_commit(sha).create_status("success", context="MLE Assess")
        assert status.creator.login == "alice"
        assert [s.context for s in repo.get_commit(sha).get_statuses()] == ["MLE Assess"]
    with gh(server, world.bot) as g:
        ours = g.get_repo("acme/cand-1").create_check_run(
            "MLE Assess",
            sha,
            status="completed",
            conclusion="neutral",
            output={"title": "Score", "summary": "pending"},
        )
        assert ours.app.slug == "mle-assess" and ours.app.id == world.app.id
        ours.edit(conclusion="success", output={"title": "Score 480", "summary": "done"})
    with gh(server, intruder_token) as g:
        forged = g.get_repo("acme/cand-1").create_check_run(
            "MLE Assess", sha, status="completed", conclusion="success"
        )
        with pytest.raises(GithubException) as other_app:
            g.get_repo("acme/cand-1").get_check_run(ours.id).edit(conclusion="failure")
        assert other_app.value.status == 403
    with gh(server, world.alice) as g:
        runs = list(g.get_repo("acme/cand-1").get_commit(sha).get_check_runs())
    assert {(r.id, r.app.slug) for r in runs} == {(ours.id, "mle-assess"), (forged.id, "intruder")}
    assert next(r for r in runs if r.id == ours.id).output.title == "Score 480"
    only_ours = api(
        server,
        "GET",
        f"/repos/acme/cand-1/commits/{sha}/check-runs",
        world.alice,
        params={"app_id": world.app.id},
    ).json()
    assert [r["id"] for r in only_ours["check_runs"]] == [ours.id]


def test_check_run_output_limits(world: World):
    server = world.server
    sha = server.refs("acme", "cand-1")["refs/heads/main"]
    path = "/repos/acme/cand-1/check-runs"
    body = {"name": "x", "head_sha": sha, "status": "completed", "conclusion": "success"}
    fits = api(
        server,
        "POST",
        path,
        world.bot,
        json={**body, "output": {"title": "t", "summary": "a" * 65535}},
    )
    assert fits.status_code == 201
    too_long = api(
        server,
        "POST",
        path,
        world.bot,
        json={**body, "output": {"title": "t", "summary": "a" * 65536}},
    )
    assert too_long.status_code == 422
    assert "Only 65535 characters are allowed; 65536 were supplied." in too_long.json()["message"]
    too_big = api(
        server,
        "POST",
        path,
        world.bot,
        json={**body, "output": {"title": "t", "summary": "é" * 40000}},
    )
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["message"] == "summary exceeds a maximum bytesize of 65535"


def test_workflow_dispatch_is_recorded(world: World):
    with gh(world.server, world.alice) as g:
        g.get_repo("acme/cand-1").create_file(".github/workflows/grade.yml", "Grade", GRADE_YML)
    sha = world.server.refs("acme", "cand-1")["refs/heads/main"]
    with gh(world.server, world.bot) as g:
        workflow = g.get_repo("acme/cand-1").get_workflow("grade.yml")
        assert workflow.create_dispatch("main", {"repo": "acme/cand-1", "sha": sha}) is True
    [dispatch] = world.server.dispatches
    assert dispatch["workflow"] == "grade.yml" and dispatch["ref"] == "main"
    assert dispatch["inputs"] == {"repo": "acme/cand-1", "sha": sha}


# ----- pull requests and comments -------------------------------------------------------------


def test_pull_request_without_commits_is_refused_like_github(world: World):
    with gh(world.server, world.alice) as g:
        repo = g.get_repo("acme/cand-1")
        repo.create_git_ref("refs/heads/feedback", repo.get_branch("main").commit.sha)
        with pytest.raises(GithubException) as duplicate:
            repo.create_git_ref("refs/heads/feedback", repo.get_branch("main").commit.sha)
        assert duplicate.value.data["message"] == "Reference already exists"
        with pytest.raises(GithubException) as empty:
            repo.create_pull(base="feedback", head="main", title="Feedback", body="")
        assert empty.value.status == 422
        assert empty.value.data["errors"][0]["message"] == "No commits between feedback and main"
        repo.create_file("START.md", "Start", "start\n", branch="main")
        pr = repo.create_pull(base="feedback", head="main", title="Feedback", body="")
        found = list(repo.get_pulls(state="open", head="acme:main", base="feedback"))
        assert [p.number for p in found] == [pr.number]
        assert pr.head.sha == repo.get_branch("main").commit.sha


def test_collaborator_may_edit_the_bots_comment(world: World):
    server = world.server
    number = open_feedback_pr(world)
    server.add_collaborator("acme", "cand-1", "cand", "push")
    server.add_collaborator("acme", "cand-1", "rev", "pull")
    with gh(server, world.bot) as g:
        sticky = (
            g.get_repo("acme/cand-1")
            .get_pull(number)
            .create_issue_comment("<!-- mle-assess -->\nScore pending")
        )
        assert sticky.user.login == "mle-assess[bot]" and sticky.user.type == "Bot"
    with gh(server, world.cand) as g:
        g.get_repo("acme/cand-1").get_pull(number).get_issue_comment(sticky.id).edit("Score: 600")
    with gh(server, world.rev) as g, pytest.raises(GithubException) as denied:
        g.get_repo("acme/cand-1").get_pull(number).get_issue_comment(sticky.id).edit("nope")
    assert denied.value.status == 403
    with gh(server, world.bot) as g:
        comment = g.get_repo("acme/cand-1").get_pull(number).get_issue_comment(sticky.id)
        assert comment.body == "Score: 600" and comment.updated_at >= comment.created_at
        comment.edit("<!-- mle-assess -->\nScore pending")
    assert server.comment_editors("acme", "cand-1", sticky.id) == ["cand", "mle-assess[bot]"]


# ----- faults ----------------------------------------------------------------------------------


def test_every_response_carries_rate_limit_headers_and_github_errors(world: World):
    response = api(world.server, "GET", "/repos/acme/nope", world.alice)
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found" and "documentation_url" in response.json()
    for name in ("Limit", "Remaining", "Reset", "Used", "Resource"):
        assert f"X-RateLimit-{name}" in response.headers


@pytest.mark.parametrize(
    ("kind", "options", "status", "exception"),
    [
        ("500", {}, 500, GithubException),
        ("502", {}, 502, GithubException),
        ("rate_limit", {"seconds": 30}, 403, RateLimitExceededException),
        ("secondary", {"seconds": 7}, 403, RateLimitExceededException),
        ("secondary", {"seconds": 7, "status": 429}, 429, GithubException),
    ],
)
def test_answering_faults(
    world: World, kind: str, options: dict[str, Any], status: int, exception: type[Exception]
):
    server = world.server
    server.inject(kind=kind, method="GET", path=r"/repos/acme/cand-1$", times=2, **options)
    raw = api(server, "GET", "/repos/acme/cand-1", world.bot)
    assert raw.status_code == status
    if kind == "rate_limit":
        assert raw.headers["X-RateLimit-Remaining"] == "0"
        assert abs(int(raw.headers["X-RateLimit-Reset"]) - (time.time() + 30)) < 3
        inst = world.app.installation_id
        assert raw.json()["message"] == f"API rate limit exceeded for installation ID {inst}."
    if kind == "secondary":
        assert raw.headers["Retry-After"] == "7"
        assert raw.json()["message"].startswith("You have exceeded a secondary rate limit")
    with gh(server, world.bot) as g, pytest.raises(exception) as raised:
        g.get_repo("acme/cand-1")
    assert raised.value.status == status  # type: ignore[attr-defined]
    assert api(server, "GET", "/repos/acme/cand-1", world.bot).status_code == 200


def test_slow_and_dropped_requests(world: World):
    server = world.server
    server.inject(kind="slow", path=r"/repos/acme/cand-1$", times=2, seconds=1.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api(server, "GET", "/repos/acme/cand-1", world.bot, timeout=0.3)
    with gh(server, world.bot, timeout=1) as g, pytest.raises(requests.exceptions.ReadTimeout):
        g.get_repo("acme/cand-1")
    started = time.monotonic()
    assert api(server, "GET", "/repos/acme/cand-1", world.bot).status_code == 200
    assert time.monotonic() - started < 1
    server.inject(kind="drop", path=r"/repos/acme/cand-1$", times=2)
    with pytest.raises(requests.exceptions.ConnectionError):
        api(server, "GET", "/repos/acme/cand-1", world.bot)
    with gh(server, world.bot) as g, pytest.raises(requests.exceptions.ConnectionError):
        g.get_repo("acme/cand-1")
    dropped = [r for r in server.requests if r.fault == "drop"]
    assert len(dropped) == 2 and all(r.status is None for r in dropped)
    assert api(server, "GET", "/repos/acme/cand-1", world.bot).status_code == 200


def test_a_retried_post_creates_exactly_one_check_run(world: World):
    server = world.server
    sha = server.refs("acme", "cand-1")["refs/heads/main"]
    server.inject(kind="502", method="POST", path=r"/check-runs$", times=2)
    retry = GithubRetry(total=3, backoff_factor=0)
    with gh(server, world.bot, retry=retry) as g:
        run = g.get_repo("acme/cand-1").create_check_run("MLE Assess", sha)
        assert run.status == "queued"
        runs = list(g.get_repo("acme/cand-1").get_commit(sha).get_check_runs())
    posts = server.requests_matching("POST", r"/check-runs$")
    assert [r.status for r in posts] == [502, 502, 201]
    assert [r.id for r in runs] == [run.id]


def test_server_clock_can_move_forward(world: World):
    world.server.advance_clock(3600)
    number = open_feedback_pr(world)
    with gh(world.server, world.bot) as g:
        comment = g.get_repo("acme/cand-1").get_pull(number).create_issue_comment("later")
    assert comment.created_at > datetime.now(UTC) + timedelta(minutes=50)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", world.server.events("acme", "cand-1")[0]["created_at"]
    )
    assert (
        base64.b64decode(
            api(world.server, "GET", "/repos/acme/cand-1/contents/README.md", world.bot).json()[
                "content"
            ]
        )
        == b"# Assessment\n"
    )
