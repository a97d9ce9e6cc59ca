"""The test GitHub server's repositories, git, people, workflows and checks, held to what
github.com does (see /work/shared/github-facts.md): empty and generating repositories,
invitations that expire, collaborator permissions, the Workflows permission, workflow
dispatch validation and check-run limits. Driven over HTTP through PyGithub, `requests` and
real `git`; time moves on the server's clock only."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import requests
from fakegithub import AppCredentials, FakeGitHub, bypass_proxies
from fakegithub import fake_github as _fake_github  # noqa: F401  (registers the fixture)
from fakegithub.control import DEFAULT_APP_PERMISSIONS
from fakegithub.gitclient import git
from github import Auth, Github, GithubException

WEEK = 7 * 24 * 3600
GRADE_YML = """name: grade
on:
  workflow_dispatch:
    inputs:
      repo: {description: repository, required: true}
      sha: {description: commit, required: true}
      debug: {description: verbose, type: boolean, default: false}
      level: {description: detail, type: choice, options: [low, high], default: low}
jobs:
  grade: {runs-on: ubuntu-latest, steps: [{run: echo grade}]}
"""


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    bypass_proxies(monkeypatch)


def gh(server: FakeGitHub, token: str) -> Github:
    """PyGithub pointed at the server, with no retries or pauses."""
    return Github(
        base_url=server.api_url,
        auth=Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        timeout=15,
    )


def api(server: FakeGitHub, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    """A raw request, for the status lines and bodies PyGithub hides."""
    with requests.Session() as session:
        session.trust_env = False
        headers = {"Authorization": f"token {token}"}
        return session.request(method, server.api_url + path, headers=headers, timeout=15, **kwargs)


def commit(work: Path, files: dict[str, str], message: str = "change") -> None:
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
        git("add", name, cwd=work)
    git("commit", "-q", "-m", message, cwd=work)


@dataclass
class World:
    """acme (owner alice, member mem) with the mle-test App installed; acme/cand-1 has one
    commit on main; cand and mem are users."""

    server: FakeGitHub
    app: AppCredentials
    alice: str
    cand: str
    mem: str
    bot: str  # an installation token with the App's (default) permissions


@pytest.fixture
def world(fake_github: FakeGitHub) -> World:
    server = fake_github
    alice, cand, mem = (server.add_user(n) for n in ("alice", "cand", "mem"))
    server.add_org("acme", owners=("alice",), members=("mem",))
    app = server.add_app("mle-test", "acme")
    server.create_repo("acme", "cand-1", files={"README.md": "# Assessment\n"})
    bot = server.installation_token(app.installation_id)
    return World(server, app, alice, cand, mem, bot)


def status_and_message(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("message", "")


# ----- empty repositories (facts #1) ------------------------------------------------------


def test_empty_repository_answers_409_to_git_database_calls(world: World):
    server = world.server
    created = api(server, "POST", "/orgs/acme/repos", world.alice, json={"name": "empty"})
    assert created.status_code == 201
    empty = ("/repos/acme/empty", world.alice)
    conflict = (409, "Git Repository is empty.")
    for path in ("/git/ref/heads/main", "/git/refs", "/git/refs/heads/main", "/commits"):
        assert status_and_message(api(server, "GET", empty[0] + path, empty[1])) == conflict
    for path in ("/commits/main", "/git/trees/main", "/git/commits/" + "a" * 40):
        assert status_and_message(api(server, "GET", empty[0] + path, empty[1])) == conflict
    body = {"ref": "refs/heads/x", "sha": "a" * 40}
    assert status_and_message(api(server, "POST", empty[0] + "/git/refs", empty[1], json=body)) == (
        conflict
    )
    contents = api(server, "GET", empty[0] + "/contents/README.md", empty[1])
    assert status_and_message(contents) == (404, "This repository is empty.")
    assert api(server, "GET", empty[0] + "/branches", empty[1]).json() == []
    branch = api(server, "GET", empty[0] + "/branches/main", empty[1])
    assert status_and_message(branch) == (404, "Branch not found")
    with gh(server, world.alice) as g:
        repo = g.get_repo("acme/empty")
        with pytest.raises(GithubException) as raised:
            repo.get_git_ref("heads/main")
        assert raised.value.status == 409
        # The contents API is how an empty repository gets its first commit.
        first = repo.create_file("README.md", "Start", "# Empty no more\n")["commit"].sha
        assert repo.get_git_ref("heads/main").object.sha == first
        assert [c.sha for c in repo.get_commits()] == [first]
        assert [b.name for b in repo.get_branches()] == ["main"]


def test_commits_trees_and_file_deletion_on_a_repository_with_history(world: World):
    server = world.server
    with gh(server, world.alice) as g:
        repo = g.get_repo("acme/cand-1")
        added = repo.create_file("src/a.py", "Add a", "a = 1\n")
        gone = repo.delete_file("src/a.py", "Remove a", added["content"].sha)
        history = [c.sha for c in repo.get_commits()]
        assert history[:2] == [gone["commit"].sha, added["commit"].sha] and len(history) == 3
        assert repo.get_git_commit(added["commit"].sha).parents[0].sha == history[2]
        tree = repo.get_git_tree(added["commit"].sha, recursive=True).tree
        assert {(e.path, e.type) for e in tree} == {
            ("README.md", "blob"),
            ("src", "tree"),
            ("src/a.py", "blob"),
        }
        with pytest.raises(GithubException) as stale:
            repo.delete_file("README.md", "Remove", "0" * 40)
        assert stale.value.status == 409


# ----- template generation (facts #3) -----------------------------------------------------


def test_generation_answers_201_at_once_and_the_copy_appears_later(tmp_path: Path):
    # A minute of generation, so the real seconds this test takes never finish it.
    with FakeGitHub(tmp_path / "gen", generation_seconds=60) as server:
        generation_checks(server, tmp_path)
        assert not server.errors


def generation_checks(server: FakeGitHub, tmp_path: Path) -> None:
    alice = server.add_user("alice")
    server.add_org("acme", owners=("alice",))
    server.create_repo("acme", "template", is_template=True, files={"check.py": "v1\n"})
    with gh(server, alice) as g:
        template = g.get_repo("acme/template")
        template.update_file("check.py", "v2", "v2\n", template.get_contents("check.py").sha)
    body = {"owner": "acme", "name": "cand-2", "private": True}
    made = api(server, "POST", "/repos/acme/template/generate", alice, json=body)
    assert made.status_code == 201 and made.json()["full_name"] == "acme/cand-2"
    assert not server.repo_ready("acme", "cand-2")
    ref = api(server, "GET", "/repos/acme/cand-2/git/ref/heads/main", alice)
    assert status_and_message(ref) == (409, "Git Repository is empty.")
    assert api(server, "GET", "/repos/acme/cand-2/contents/check.py", alice).status_code == 404
    url = server.clone_url("acme", "cand-2", alice)
    early = git("clone", "-q", url, str(tmp_path / "early"))
    assert "empty repository" in early.stderr
    head = git("rev-parse", "--verify", "-q", "HEAD", cwd=tmp_path / "early", check=False)
    assert head.stdout == ""
    commit(tmp_path / "early", {"x.txt": "x"})
    refused = git("push", "origin", "HEAD:main", cwd=tmp_path / "early", check=False)
    assert refused.returncode != 0

    server.advance_clock(60)
    assert server.repo_ready("acme", "cand-2")
    with gh(server, alice) as g:
        head = g.get_repo("acme/cand-2").get_commit("main")
        template_head = g.get_repo("acme/template").get_commit("main")
    # One fresh root commit with the template's latest tree; none of its history.
    assert head.parents == [] and head.sha != template_head.sha
    assert head.commit.tree.sha == template_head.commit.tree.sha
    assert server.refs("acme", "cand-2") == {"refs/heads/main": head.sha}
    git("clone", "-q", url, str(tmp_path / "late"))
    assert (tmp_path / "late" / "check.py").read_text() == "v2\n"
    assert git("rev-list", "--count", "HEAD", cwd=tmp_path / "late").stdout.strip() == "1"


def test_generation_time_is_a_constructor_argument(fake_github: FakeGitHub, tmp_path: Path):
    assert fake_github.generation_seconds == 3.0  # the default
    with FakeGitHub(tmp_path / "slow", generation_seconds=600) as server:
        token = server.add_user("alice")
        server.create_repo("alice", "template", is_template=True, files={"a.txt": "a"})
        api(server, "POST", "/repos/alice/template/generate", token, json={"name": "copy"})
        server.advance_clock(590)
        assert not server.repo_ready("alice", "copy")
        server.advance_clock(10)
        assert api(server, "GET", "/repos/alice/copy/git/ref/heads/main", token).status_code == 200
    with pytest.raises(ValueError):
        FakeGitHub(tmp_path / "copy", template_history="copy")


def test_server_clock_readers(world: World):
    server = world.server
    before = server.now()
    assert abs(before - time.time()) < 5
    server.advance_clock(3600)
    assert server.now() - before >= 3600
    moment = server.clock()
    assert moment.tzinfo is UTC and abs(moment.timestamp() - server.now()) < 5


# ----- invitations (facts #5) ---------------------------------------------------------------


def test_invitations_expire_after_seven_days_and_need_deleting(world: World):
    server = world.server
    with gh(server, world.alice) as g:
        first = g.get_repo("acme/cand-1").add_to_collaborators("cand", "push")
        assert first is not None
    listed = api(server, "GET", "/repos/acme/cand-1/invitations", world.alice).json()
    assert [(i["id"], i["expired"]) for i in listed] == [(first.id, False)]
    server.advance_clock(WEEK - 60)
    assert (
        api(server, "GET", "/repos/acme/cand-1/invitations", world.alice).json()[0]["expired"]
        is False
    )
    server.advance_clock(60)
    listed = api(server, "GET", "/repos/acme/cand-1/invitations", world.alice).json()
    assert [(i["id"], i["expired"]) for i in listed] == [(first.id, True)]
    assert server.invitations("acme", "cand-1")[0]["expired"] is True
    # The invitee no longer has it and cannot accept it.
    assert api(server, "GET", "/user/repository_invitations", world.cand).json() == []
    accept = api(server, "PATCH", f"/user/repository_invitations/{first.id}", world.cand)
    assert accept.status_code == 404
    # Inviting again while the expired one exists answers that same, still expired, one.
    again = api(server, "PUT", "/repos/acme/cand-1/collaborators/cand", world.alice, json={})
    assert again.status_code == 201 and again.json()["id"] == first.id and again.json()["expired"]
    deleted = api(server, "DELETE", f"/repos/acme/cand-1/invitations/{first.id}", world.alice)
    assert deleted.status_code == 204
    fresh = api(server, "PUT", "/repos/acme/cand-1/collaborators/cand", world.alice, json={})
    assert fresh.status_code == 201 and fresh.json()["id"] != first.id
    assert fresh.json()["expired"] is False
    with gh(server, world.cand) as g:
        [mine] = list(g.get_user().get_invitations())
        g.get_user().accept_invitation(mine)
        assert g.get_repo("acme/cand-1").permissions.push


def test_pending_invitation_permission_is_updated_with_patch(world: World):
    server = world.server
    inv_id = server.invite("acme", "cand-1", "cand", "push")
    path = f"/repos/acme/cand-1/invitations/{inv_id}"
    changed = api(server, "PATCH", path, world.alice, json={"permissions": "read"})
    assert changed.status_code == 200 and changed.json()["permissions"] == "read"
    bad = api(server, "PATCH", path, world.alice, json={"permissions": "owner"})
    assert bad.status_code == 422
    assert api(server, "PATCH", path, world.cand, json={"permissions": "admin"}).status_code == 404
    assert api(server, "DELETE", path, world.alice).status_code == 204
    assert api(server, "DELETE", path, world.alice).status_code == 404
    assert server.invitations("acme", "cand-1") == []


# ----- collaborators (facts #8) -------------------------------------------------------------


def permission_of(world: World, login: str) -> tuple[str, str, str | None]:
    path = f"/repos/acme/cand-1/collaborators/{login}/permission"
    body = api(world.server, "GET", path, world.alice).json()
    return body["permission"], body["role_name"], (body["user"] or {}).get("login")


def put_collaborator(world: World, login: str, permission: str) -> requests.Response:
    path = f"/repos/acme/cand-1/collaborators/{login}"
    return api(world.server, "PUT", path, world.alice, json={"permission": permission})


def test_put_changes_an_existing_collaborators_permission(world: World):
    world.server.add_collaborator("acme", "cand-1", "cand", "push")
    assert permission_of(world, "cand") == ("write", "write", "cand")
    dropped = put_collaborator(world, "cand", "pull")
    assert dropped.status_code == 204 and world.server.invitations("acme", "cand-1") == []
    assert permission_of(world, "cand") == ("read", "read", "cand")
    assert put_collaborator(world, "cand", "triage").status_code == 204
    assert permission_of(world, "cand") == ("read", "triage", "cand")
    assert put_collaborator(world, "cand", "maintain").status_code == 204
    assert permission_of(world, "cand") == ("write", "maintain", "cand")
    with gh(world.server, world.cand) as g:
        assert not g.get_repo("acme/cand-1").permissions.admin
    removed = api(world.server, "DELETE", "/repos/acme/cand-1/collaborators/cand", world.alice)
    assert removed.status_code == 204
    assert permission_of(world, "cand") == ("none", "none", None)


def test_base_role_and_owners(world: World):
    server = world.server
    # A member is added directly (204, no invitation) at no less than the base role.
    assert permission_of(world, "mem") == ("read", "read", "mem")
    server.set_base_permission("acme", "write")
    refused = put_collaborator(world, "mem", "pull")
    assert refused.status_code == 422
    assert refused.json()["message"] == "Cannot assign mem permission of read"
    assert permission_of(world, "mem") == ("write", "write", "mem")
    assert put_collaborator(world, "mem", "maintain").status_code == 204
    assert permission_of(world, "mem") == ("write", "maintain", "mem")
    assert server.invitations("acme", "cand-1") == []
    # An owner keeps admin whatever the call says.
    assert put_collaborator(world, "alice", "pull").status_code == 204
    assert permission_of(world, "alice") == ("admin", "admin", "alice")
    # Someone outside the organisation is invited (201) and has no permission yet.
    invited = put_collaborator(world, "cand", "pull")
    assert invited.status_code == 201 and invited.json()["permissions"] == "read"
    assert permission_of(world, "cand") == ("none", "none", None)
    server.set_base_permission("acme", "none")
    assert permission_of(world, "mem") == ("write", "maintain", "mem")  # the direct grant stays


# ----- the Workflows permission (facts #2) ---------------------------------------------------


def test_app_without_workflows_permission_cannot_push_workflows(world: World, tmp_path: Path):
    server = world.server
    assert "workflows" not in DEFAULT_APP_PERMISSIONS  # a real App starts without it
    before = server.refs("acme", "cand-1")
    work = tmp_path / "bot"
    git("clone", "-q", server.clone_url("acme", "cand-1", world.bot), str(work))
    commit(work, {".github/workflows/check.yml": "on: push\n"}, "Add check")
    git("branch", "other", "HEAD~1", cwd=work)
    git("checkout", "-q", "other", cwd=work)
    commit(work, {"notes.txt": "fine on its own\n"})
    refused = git("push", "--atomic", "origin", "main", "other", cwd=work, check=False)
    assert refused.returncode != 0
    message = (
        "refusing to allow a GitHub App to create or update workflow "
        "`.github/workflows/check.yml` without `workflows` permission"
    )
    assert message in refused.stderr
    assert server.refs("acme", "cand-1") == before  # nothing landed
    # Even without --atomic the pre-receive refusal covers the whole push.
    refused = git("push", "origin", "main", "other", cwd=work, check=False)
    assert refused.returncode != 0 and server.refs("acme", "cand-1") == before
    assert git("push", "-q", "origin", "other", cwd=work).returncode == 0

    put = api(
        server,
        "PUT",
        "/repos/acme/cand-1/contents/.github/workflows/check.yml",
        world.bot,
        json={"message": "Add check", "content": "b246IHB1c2gK"},
    )
    assert put.status_code == 404
    ok = api(
        server,
        "PUT",
        "/repos/acme/cand-1/contents/docs/x.md",
        world.bot,
        json={"message": "Add doc", "content": "eAo="},
    )
    assert ok.status_code == 201

    # A person's token, and an App granted `workflows: write`, may.
    git("checkout", "-q", "main", cwd=work)
    git("pull", "-q", "--rebase", server.clone_url("acme", "cand-1", world.alice), "main", cwd=work)
    git("push", "-q", server.clone_url("acme", "cand-1", world.alice), "HEAD:main", cwd=work)
    path = "/repos/acme/cand-1/contents/.github/workflows/check.yml"
    sha = api(server, "GET", path, world.alice).json()["sha"]
    gone = api(server, "DELETE", path, world.bot, json={"message": "Remove", "sha": sha})
    assert gone.status_code == 404
    wide = server.add_app(
        "mle-wide",
        "acme",
        permissions={**DEFAULT_APP_PERMISSIONS, "workflows": "write"},
    )
    wide_token = server.installation_token(wide.installation_id)
    gone = api(server, "DELETE", path, wide_token, json={"message": "Remove", "sha": sha})
    assert gone.status_code == 200
    wide_url = server.clone_url("acme", "cand-1", wide_token)
    git("pull", "-q", "--rebase", wide_url, "main", cwd=work)
    commit(work, {".github/workflows/again.yml": "on: push\n"})
    git("push", "-q", wide_url, "HEAD:main", cwd=work)
    assert (
        ".github/workflows/again.yml"
        in git("ls-tree", "-r", "--name-only", "HEAD", cwd=work).stdout
    )


# ----- workflow_dispatch (facts #16) --------------------------------------------------------


def test_workflow_dispatch_validates_the_file_and_its_inputs(world: World):
    server = world.server
    files = {
        ".github/workflows/grade.yml": GRADE_YML,
        ".github/workflows/on-push.yml": "on: push\njobs: {}\n",
        ".github/workflows/as-list.yml": "on: [push, workflow_dispatch]\njobs: {}\n",
        ".github/workflows/as-string.yml": "on: workflow_dispatch\njobs: {}\n",
    }
    server.create_repo("acme", "flows", files=files)
    sha = server.refs("acme", "flows")["refs/heads/main"]

    def dispatch(workflow: str | int, **body: Any) -> tuple[int, str]:
        path = f"/repos/acme/flows/actions/workflows/{workflow}/dispatches"
        response = api(server, "POST", path, world.bot, json={"ref": "main", **body})
        return response.status_code, response.json().get("message", "") if response.content else ""

    good = {"repo": "acme/cand-1", "sha": sha}
    assert dispatch("missing.yml")[0] == 404
    assert dispatch("on-push.yml") == (422, "Workflow does not have 'workflow_dispatch' trigger")
    assert dispatch("as-list.yml") == (204, "")
    assert dispatch("as-string.yml") == (204, "")
    assert dispatch("grade.yml", ref="nope", inputs=good) == (422, "No ref found for: nope")
    assert dispatch("grade.yml", inputs={**good, "extra": "x"}) == (
        422,
        'Unexpected inputs provided: ["extra"]',
    )
    assert dispatch("grade.yml", inputs={"repo": "acme/cand-1"}) == (
        422,
        "Required input 'sha' not provided",
    )
    many = {f"i{n}": "x" for n in range(26)}
    status, message = dispatch("grade.yml", inputs=many)
    assert status == 422 and "No more than 25 properties are allowed; 26 were supplied." in message
    status, message = dispatch("grade.yml", inputs={**good, "debug": True})
    assert status == 422 and "For 'properties/debug', true is not a string." in message
    assert dispatch("grade.yml", inputs={**good, "debug": "yes"}) == (
        422,
        "Provided value 'yes' for input 'debug' not in the list of allowed values",
    )
    assert dispatch("grade.yml", inputs={**good, "level": "mid"})[0] == 422
    assert dispatch("grade.yml", inputs={**good, "debug": "true", "level": "high"}) == (204, "")
    with gh(server, world.bot) as g:
        workflow = g.get_repo("acme/flows").get_workflow("grade.yml")
        assert workflow.path == ".github/workflows/grade.yml"
    assert dispatch(workflow.id, inputs=good) == (204, "")
    path = "/repos/acme/flows/actions/workflows/grade.yml/dispatches"
    detailed = api(
        server,
        "POST",
        path,
        world.bot,
        json={"ref": "main", "inputs": good, "return_run_details": True},
    )
    assert detailed.status_code == 200
    assert set(detailed.json()) == {"workflow_run_id", "run_url", "html_url"}
    recorded = [(d["workflow"], d["inputs"].get("debug")) for d in server.dispatches]
    assert recorded == [
        ("as-list.yml", None),
        ("as-string.yml", None),
        ("grade.yml", "true"),
        ("grade.yml", None),
        ("grade.yml", None),
    ]


# ----- check runs (facts #13, #17) ------------------------------------------------------------


def test_check_run_output_is_limited_in_bytes_and_only_apps_write(world: World):
    server = world.server
    sha = server.refs("acme", "cand-1")["refs/heads/main"]
    body = {"name": "grade", "head_sha": sha, "status": "completed", "conclusion": "success"}

    def create(**output: str) -> requests.Response:
        payload = {**body, "output": {"title": "Score", "summary": "s", **output}}
        return api(server, "POST", "/repos/acme/cand-1/check-runs", world.bot, json=payload)

    fits = "é" * 32767 + "a"  # 65535 bytes, 32768 characters
    assert create(summary=fits, text=fits).status_code == 201
    for field in ("summary", "text"):
        over = create(**{field: fits + "a"})
        assert over.status_code == 422
        expected = f"{field} exceeds a maximum bytesize of 65535"
        assert over.json()["errors"][0] == {
            "resource": "CheckRun",
            "code": "custom",
            "field": field,
            "message": expected,
        }
    as_user = api(server, "POST", "/repos/acme/cand-1/check-runs", world.alice, json=body)
    assert as_user.status_code == 403
    assert as_user.json()["message"] == "You must authenticate via a GitHub App."
