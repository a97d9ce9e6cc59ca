"""Endpoints for git data: references, branches, commits and contents."""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import access, activity, repos, shapes
from .api_repos import find_repo
from .gitrepo import WORKFLOWS_DIR, Person
from .model import Repo
from .repos import is_empty, require_commits
from .routes import ApiError, Request, Response, invalid, not_found, paginate, route

if TYPE_CHECKING:
    from .server import FakeGitHub

SHA = re.compile(r"^[0-9a-f]{40}$")


def _ref(hub: FakeGitHub, repo: Repo, ref: str) -> Response:
    # An empty (or still generating) repository answers 409, not 404 (REST guide "Using the
    # REST API to interact with your Git database"; noflo/noflo-ui#500).
    require_commits(hub, repo)
    full = f"refs/{ref.strip('/')}"
    sha = hub.git.refs(repo.path).get(full)
    if sha is None:
        raise not_found()
    return Response(200, shapes.git_ref(hub.urls, repo, full, sha))


# REST: "Get a reference" (git/refs)
@route("GET", "/repos/{owner}/{repo}/git/ref/{ref*}")
def get_ref(hub: FakeGitHub, req: Request, owner: str, repo: str, ref: str) -> Response:
    return _ref(hub, find_repo(hub, req, owner, repo, app=("contents", "read")), ref)


# REST: "Get a reference" (git/refs), through the older /git/refs/{ref} path
@route("GET", "/repos/{owner}/{repo}/git/refs/{ref*}")
def get_ref_alias(hub: FakeGitHub, req: Request, owner: str, repo: str, ref: str) -> Response:
    return _ref(hub, find_repo(hub, req, owner, repo, app=("contents", "read")), ref)


# REST: "List matching references" (git/refs), through the older /git/refs path that lists
# every reference
@route("GET", "/repos/{owner}/{repo}/git/refs")
def list_refs(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    require_commits(hub, found)  # 409 on an empty repository, as every Git database call
    refs = sorted(hub.git.refs(found.path).items())
    return paginate(req, refs, lambda pair: shapes.git_ref(hub.urls, found, *pair), repo=found)


# REST: "Create a reference" (git/refs)
@route("POST", "/repos/{owner}/{repo}/git/refs")
def create_ref(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, role="push", app=("contents", "write"))
    # An empty repository gets its first commit through the contents API; the Git database
    # answers 409 until then (REST guide "Using the REST API to interact with your Git
    # database").
    require_commits(hub, found)
    body = req.json()
    ref, sha = str(body.get("ref", "")), str(body.get("sha", ""))
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if not SHA.match(sha) or hub.git.object_type(found.path, sha) != "commit":
        raise ApiError(422, "Object does not exist")
    if not hub.git.update_ref(found.path, ref, sha, None):
        raise ApiError(422, "Reference already exists")
    assert req.identity is not None and req.identity.account is not None
    activity.sync_refs(hub, found, req.identity.account)
    return Response(201, shapes.git_ref(hub.urls, found, ref, sha))


def _branch_summary(hub: FakeGitHub, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    """Schema "short-branch"."""
    api = f"{hub.urls.api}/repos/{repo.full_name}"
    return {
        "name": name,
        "commit": {"sha": sha, "url": f"{api}/commits/{sha}"},
        "protected": False,
    }


# REST: "List branches" (branches/branches). An empty repository has no branches: an empty
# list (concrete-utopia/utopia#2869 found GET of the default branch 404 there).
@route("GET", "/repos/{owner}/{repo}/branches")
def list_branches(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    heads = [] if is_empty(hub, found) else sorted(hub.git.refs(found.path).items())
    items = [(r.removeprefix("refs/heads/"), s) for r, s in heads if r.startswith("refs/heads/")]
    return paginate(req, items, lambda pair: _branch_summary(hub, found, *pair), repo=found)


# REST: "Get a branch" (branches/branches); 404 "Branch not found" on an empty repository
@route("GET", "/repos/{owner}/{repo}/branches/{branch*}")
def get_branch(hub: FakeGitHub, req: Request, owner: str, repo: str, branch: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    sha = None if is_empty(hub, found) else hub.git.refs(found.path).get(f"refs/heads/{branch}")
    if sha is None:
        raise ApiError(404, "Branch not found")
    api = f"{hub.urls.api}/repos/{found.full_name}"
    info = hub.git.commit_info(found.path, sha)
    return Response(
        200,
        {
            "name": branch,
            "commit": shapes.commit(hub.state, hub.urls, found, info),
            "_links": {
                "self": f"{api}/branches/{branch}",
                "html": f"{hub.urls.base}/{found.full_name}/tree/{branch}",
            },
            "protected": False,
            "protection_url": f"{api}/branches/{branch}/protection",
        },
    )


def commit_sha(hub: FakeGitHub, repo: Repo, ref: str) -> str:
    sha = hub.git.resolve(repo.path, ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return sha


# REST: "List commits" (commits/commits): newest first from `sha` (default branch); 409
# "Git Repository is empty." on an empty repository (octokit/handbook#4)
@route("GET", "/repos/{owner}/{repo}/commits")
def list_commits(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    require_commits(hub, found)
    start = commit_sha(hub, found, req.arg("sha") or found.default_branch)
    shas = hub.git.run(found.path, "rev-list", start).decode().split()
    return paginate(
        req,
        shas,
        lambda sha: shapes.commit(hub.state, hub.urls, found, hub.git.commit_info(found.path, sha)),
        repo=found,
    )


# REST: "Get a commit" (commits/commits)
@route("GET", "/repos/{owner}/{repo}/commits/{ref*}")
def get_commit(hub: FakeGitHub, req: Request, owner: str, repo: str, ref: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    require_commits(hub, found)
    info = hub.git.commit_info(found.path, commit_sha(hub, found, ref))
    data = shapes.commit(hub.state, hub.urls, found, info)
    data["files"] = []
    return Response(200, data)


def _git_object(hub: FakeGitHub, repo: Repo, sha: str, kind: str) -> str:
    """The full sha of an object of this kind, after the empty-repository 409."""
    require_commits(hub, repo)
    if not re.fullmatch(r"[0-9a-f]{4,40}", sha) or hub.git.object_type(repo.path, sha) != kind:
        raise not_found()
    return hub.git.rev_of(repo.path, sha)


# REST: "Get a commit object" (git/commits)
@route("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}")
def get_git_commit(
    hub: FakeGitHub, req: Request, owner: str, repo: str, commit_sha: str
) -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    info = hub.git.commit_info(found.path, _git_object(hub, found, commit_sha, "commit"))
    api, html = f"{hub.urls.api}/repos/{found.full_name}", f"{hub.urls.base}/{found.full_name}"
    return Response(
        200,
        {
            "sha": info.sha,
            "node_id": shapes.node_id("Commit", int(info.sha[:8], 16)),
            "url": f"{api}/git/commits/{info.sha}",
            "html_url": f"{html}/commit/{info.sha}",
            "author": shapes.git_person(info.author, info.author_date),
            "committer": shapes.git_person(info.committer, info.committer_date),
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "parents": [
                {"sha": p, "url": f"{api}/git/commits/{p}", "html_url": f"{html}/commit/{p}"}
                for p in info.parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
    )


# REST: "Get a tree" (git/trees); `recursive` lists every entry below it
@route("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha*}")
def get_git_tree(hub: FakeGitHub, req: Request, owner: str, repo: str, tree_sha: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    require_commits(hub, found)
    resolved = hub.git.resolve(found.path, tree_sha)
    spec = f"{resolved}^{{tree}}" if resolved else tree_sha
    if hub.git.object_type(found.path, spec) != "tree":
        raise not_found()
    sha = hub.git.rev_of(found.path, spec)
    api = f"{hub.urls.api}/repos/{found.full_name}/git"
    entries = hub.git.tree_entries(found.path, sha, recursive=req.arg("recursive") is not None)
    tree = [
        {
            "path": e.name,
            "mode": e.mode,
            "type": e.type,
            "sha": e.sha,
            **({"size": e.size} if e.type == "blob" else {}),
            "url": f"{api}/{'trees' if e.type == 'tree' else 'blobs'}/{e.sha}",
        }
        for e in entries
    ]
    body = {"sha": sha, "url": f"{api}/trees/{sha}", "tree": tree, "truncated": False}
    return Response(200, body)


def _entry(
    hub: FakeGitHub, repo: Repo, path: str, kind: str, sha: str, size: int, ref: str
) -> dict[str, Any]:
    """Schema "content-file" (without content) / a directory entry."""
    api = f"{hub.urls.api}/repos/{repo.full_name}"
    kind = "dir" if kind == "tree" else "file"
    git_url = f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}"
    html = f"{hub.urls.base}/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
    raw = f"{hub.urls.base}/raw/{repo.full_name}/{ref}/{path}" if kind == "file" else None
    self_url = f"{api}/contents/{path}?ref={ref}"
    return {
        "type": kind,
        "size": size,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html,
        "download_url": raw,
        "_links": {"self": self_url, "git": git_url, "html": html},
    }


# REST: "Get repository content" (repos/contents)
@route("GET", "/repos/{owner}/{repo}/contents")
@route("GET", "/repos/{owner}/{repo}/contents/{path*}")
def get_contents(hub: FakeGitHub, req: Request, owner: str, repo: str, path: str = "") -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    if is_empty(hub, found):
        # GitHub's answer for contents of an empty repository (GSA/codeinventory-github#1).
        raise ApiError(404, "This repository is empty.")
    ref = req.arg("ref") or found.default_branch
    commit = hub.git.resolve(found.path, ref)
    if commit is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    path = path.strip("/")
    spec = f"{commit}:{path}"
    kind = hub.git.object_type(found.path, spec)
    if kind == "tree":
        entries = hub.git.tree_entries(found.path, spec)
        prefix = f"{path}/" if path else ""
        return Response(
            200, [_entry(hub, found, prefix + e.name, e.type, e.sha, e.size, ref) for e in entries]
        )
    if kind != "blob":
        raise not_found()
    sha = hub.git.rev_of(found.path, spec)
    data = hub.git.blob(found.path, sha)
    encoded = base64.b64encode(data).decode()
    content = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
    entry = _entry(hub, found, path, "blob", sha, len(data), ref)
    return Response(200, {**entry, "content": content, "encoding": "base64"})


def _current_blob(hub: FakeGitHub, repo: Repo, parent: str | None, path: str) -> str | None:
    if parent is None:
        return None
    if hub.git.object_type(repo.path, f"{parent}:{path}") != "blob":
        return None
    return hub.git.rev_of(repo.path, f"{parent}:{path}")


def _workflows_gate(req: Request, path: str) -> None:
    """An App token without `workflows: write` may not create, change or delete files under
    .github/workflows/ (github.blog changelog 2020-04-06 "GitHub Apps: Workflow permission").
    Through the contents API GitHub answers such a write 404 Not Found (octokit/octokit.rb#1184,
    integrations/terraform-provider-github#762)."""
    ident = req.identity
    if ident is None or ident.kind != "installation" or not path.startswith(WORKFLOWS_DIR):
        return
    if access.app_permission(ident, "workflows") < access.APP_LEVELS["write"]:
        raise not_found()


def _person(body: dict[str, Any], key: str, default: Person) -> Person:
    given = body.get(key)
    if isinstance(given, dict) and given.get("name") and given.get("email"):
        return Person(str(given["name"]), str(given["email"]))
    return default


# REST: "Create or update file contents" (repos/contents)
@route("PUT", "/repos/{owner}/{repo}/contents/{path*}")
def put_contents(hub: FakeGitHub, req: Request, owner: str, repo: str, path: str) -> Response:
    found = find_repo(hub, req, owner, repo, role="push", app=("contents", "write"))
    assert req.identity is not None and req.identity.account is not None
    body = req.json()
    path = path.strip("/")
    _workflows_gate(req, path)
    if hub.state.now() < found.ready_at:
        raise repos.git_empty()  # generation has not finished
    if not body.get("message"):
        raise invalid("Commit", "message", code="missing_field")
    try:
        content = base64.b64decode(str(body.get("content", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, "content is not valid Base64") from exc
    branch = str(body.get("branch") or found.default_branch)
    ref = f"refs/heads/{branch}"
    parent = hub.git.refs(found.path).get(ref)
    if parent is None and hub.git.refs(found.path):
        raise ApiError(404, f"Branch {branch} not found")
    existing = _current_blob(hub, found, parent, path)
    if existing and not body.get("sha"):
        raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    if existing and body.get("sha") != existing:
        raise ApiError(409, f"{path} does not match {body.get('sha')}")
    who = repos.person(req.identity.account)
    sha = hub.git.commit_files(
        found.path,
        parent=parent,
        files={path: content},
        message=str(body["message"]),
        person=_person(body, "committer", who),
        when=hub.state.now(),
    )
    if not hub.git.update_ref(found.path, ref, sha, parent):
        raise ApiError(409, f"{branch} was updated meanwhile; try again")
    activity.sync_refs(hub, found, req.identity.account)
    blob = hub.git.rev_of(found.path, f"{sha}:{path}")
    info = hub.git.commit_info(found.path, sha)
    commit = shapes.commit(hub.state, hub.urls, found, info)
    data = {
        "content": _entry(hub, found, path, "blob", blob, len(content), branch),
        "commit": {
            "sha": sha,
            "node_id": commit["node_id"],
            "url": f"{hub.urls.api}/repos/{found.full_name}/git/commits/{sha}",
            "html_url": commit["html_url"],
            **{k: commit["commit"][k] for k in ("author", "committer", "message", "tree")},
            "parents": commit["parents"],
        },
    }
    return Response(200 if existing else 201, data)


# REST: "Delete a file" (repos/contents)
@route("DELETE", "/repos/{owner}/{repo}/contents/{path*}")
def delete_contents(hub: FakeGitHub, req: Request, owner: str, repo: str, path: str) -> Response:
    found = find_repo(hub, req, owner, repo, role="push", app=("contents", "write"))
    assert req.identity is not None and req.identity.account is not None
    body = req.json()
    path = path.strip("/")
    _workflows_gate(req, path)
    if is_empty(hub, found):
        raise repos.git_empty()
    if not body.get("message"):
        raise invalid("Commit", "message", code="missing_field")
    if not body.get("sha"):
        raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    branch = str(body.get("branch") or found.default_branch)
    ref = f"refs/heads/{branch}"
    parent = hub.git.refs(found.path).get(ref)
    if parent is None:
        raise ApiError(404, f"Branch {branch} not found")
    existing = _current_blob(hub, found, parent, path)
    if existing is None:
        raise not_found()
    if body.get("sha") != existing:
        raise ApiError(409, f"{path} does not match {body.get('sha')}")
    who = repos.person(req.identity.account)
    tree = hub.git.run(found.path, "rev-parse", f"{parent}^{{tree}}").decode().strip()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        hub.git.run(found.path, "read-tree", tree, env=env)
        # Mode 0 drops the entry; --force-remove would want a work tree.
        removal = f"0 {'0' * 40}\t{path}\n".encode()
        hub.git.run(found.path, "update-index", "--index-info", input=removal, env=env)
        tree = hub.git.run(found.path, "write-tree", env=env).decode().strip()
    sha = hub.git.commit_tree(
        found.path,
        tree,
        [parent],
        str(body["message"]),
        _person(body, "committer", who),
        hub.state.now(),
    )
    if not hub.git.update_ref(found.path, ref, sha, parent):
        raise ApiError(409, f"{branch} was updated meanwhile; try again")
    activity.sync_refs(hub, found, req.identity.account)
    info = hub.git.commit_info(found.path, sha)
    commit = shapes.commit(hub.state, hub.urls, found, info)
    return Response(
        200,
        {
            "content": None,
            "commit": {
                "sha": sha,
                "node_id": commit["node_id"],
                "url": f"{hub.urls.api}/repos/{found.full_name}/git/commits/{sha}",
                "html_url": commit["html_url"],
                **{k: commit["commit"][k] for k in ("author", "committer", "message", "tree")},
                "parents": commit["parents"],
            },
        },
    )
