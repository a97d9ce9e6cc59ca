"""Endpoints for git data: references, branches, commits and contents."""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

from . import activity, repos, shapes
from .api_repos import find_repo
from .gitrepo import Person
from .model import Repo
from .routes import ApiError, Request, Response, invalid, not_found, route

if TYPE_CHECKING:
    from .server import FakeGitHub

SHA = re.compile(r"^[0-9a-f]{40}$")


def _ref(hub: FakeGitHub, repo: Repo, ref: str) -> Response:
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


# REST: "Create a reference" (git/refs)
@route("POST", "/repos/{owner}/{repo}/git/refs")
def create_ref(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, role="push", app=("contents", "write"))
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


# REST: "Get a branch" (branches/branches)
@route("GET", "/repos/{owner}/{repo}/branches/{branch*}")
def get_branch(hub: FakeGitHub, req: Request, owner: str, repo: str, branch: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    sha = hub.git.refs(found.path).get(f"refs/heads/{branch}")
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


# REST: "Get a commit" (commits/commits)
@route("GET", "/repos/{owner}/{repo}/commits/{ref*}")
def get_commit(hub: FakeGitHub, req: Request, owner: str, repo: str, ref: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("contents", "read"))
    info = hub.git.commit_info(found.path, commit_sha(hub, found, ref))
    data = shapes.commit(hub.state, hub.urls, found, info)
    data["files"] = []
    return Response(200, data)


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
