"""Endpoints for pull requests and issue comments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import access, shapes
from .api_repos import find_repo
from .model import Account, Comment, Edit, PullRequest, Repo
from .routes import ApiError, Request, Response, invalid, not_found, paginate, route

if TYPE_CHECKING:
    from .server import FakeGitHub


def _caller(req: Request) -> Account:
    if req.identity is None or req.identity.account is None:
        raise ApiError(401, "Requires authentication")
    return req.identity.account


def _branch_sha(hub: FakeGitHub, repo: Repo, branch: str) -> str | None:
    return hub.git.refs(repo.path).get(f"refs/heads/{branch}")


def render_pull(hub: FakeGitHub, pr: PullRequest) -> dict[str, object]:
    head = _branch_sha(hub, pr.repo, pr.head_ref)
    base = _branch_sha(hub, pr.repo, pr.base_ref)
    return shapes.pull(hub.state, hub.urls, pr, head, base)


def _head_branch(repo: Repo, head: str) -> str:
    """`branch` or `owner:branch`; only branches of the repository itself (no forks here)."""
    owner, sep, branch = head.rpartition(":")
    if sep and owner.lower() != repo.owner.login.lower():
        raise invalid("PullRequest", "head")
    return branch


# REST: "Create a pull request" (pulls/pulls)
@route("POST", "/repos/{owner}/{repo}/pulls")
def create_pull(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("pull_requests", "write"))
    user = _caller(req)
    body = req.json()
    if not body.get("title"):
        raise invalid("PullRequest", "title", code="missing_field")
    head = _head_branch(found, str(body.get("head", "")))
    base = str(body.get("base", ""))
    head_sha, base_sha = _branch_sha(hub, found, head), _branch_sha(hub, found, base)
    if head_sha is None:
        raise invalid("PullRequest", "head")
    if base_sha is None:
        raise invalid("PullRequest", "base")
    for pr in found.pulls.values():
        if pr.state == "open" and pr.head_ref == head and pr.base_ref == base:
            message = f"A pull request already exists for {found.owner.login}:{head}."
            raise invalid("PullRequest", code="custom", message=message)
    if hub.git.count_between(found.path, base_sha, head_sha) == 0:
        raise invalid("PullRequest", code="custom", message=f"No commits between {base} and {head}")
    now = hub.state.now()
    pr = PullRequest(
        hub.state.next_id(),
        found.next_number,
        found,
        str(body["title"]),
        body.get("body"),
        user,
        head,
        base,
        now,
        now,
    )
    found.pulls[pr.number] = pr
    found.next_number += 1
    return Response(201, render_pull(hub, pr))


# REST: "List pull requests" (pulls/pulls)
@route("GET", "/repos/{owner}/{repo}/pulls")
def list_pulls(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("pull_requests", "read"))
    state = req.arg("state", "open")
    head, base = req.arg("head"), req.arg("base")
    items = [
        pr
        for pr in found.pulls.values()
        if state in ("all", pr.state)
        and (head is None or head.lower() == f"{found.owner.login}:{pr.head_ref}".lower())
        and (base is None or base == pr.base_ref)
    ]
    direction = req.arg("direction", "desc")
    items.sort(key=lambda pr: pr.number, reverse=direction == "desc")
    return paginate(req, items, lambda pr: render_pull(hub, pr), repo=found)


# REST: "Get a pull request" (pulls/pulls)
@route("GET", "/repos/{owner}/{repo}/pulls/{number}")
def get_pull(hub: FakeGitHub, req: Request, owner: str, repo: str, number: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("pull_requests", "read"))
    pr = found.pulls.get(int(number)) if number.isdigit() else None
    if pr is None:
        raise not_found()
    return Response(200, render_pull(hub, pr))


def _comment_need(req: Request) -> tuple[str, str]:
    """Comments on pull requests need `issues` or `pull_requests` write for an App."""
    ident = req.identity
    if (
        ident is not None
        and ident.kind == "installation"
        and access.app_permission(ident, "pull_requests") >= 2
    ):
        return ("pull_requests", "write")
    return ("issues", "write")


# REST: "List issue comments" (issues/comments)
@route("GET", "/repos/{owner}/{repo}/issues/{number}/comments")
def list_comments(hub: FakeGitHub, req: Request, owner: str, repo: str, number: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("issues", "read"))
    if not number.isdigit() or int(number) not in found.pulls:
        raise not_found()
    items = sorted(
        (c for c in hub.state.comments.values() if c.repo is found and c.number == int(number)),
        key=lambda c: c.id,
    )
    return paginate(req, items, lambda c: shapes.comment(hub.state, hub.urls, c), repo=found)


# REST: "Create an issue comment" (issues/comments)
@route("POST", "/repos/{owner}/{repo}/issues/{number}/comments")
def create_comment(hub: FakeGitHub, req: Request, owner: str, repo: str, number: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=_comment_need(req))
    user = _caller(req)
    if not number.isdigit() or int(number) not in found.pulls:
        raise not_found()
    body = req.json().get("body")
    if not isinstance(body, str) or not body:
        raise invalid("IssueComment", "body", code="missing_field")
    now = hub.state.now()
    comment = Comment(hub.state.next_id(), found, int(number), user, body, now, now)
    hub.state.comments[comment.id] = comment
    return Response(201, shapes.comment(hub.state, hub.urls, comment))


def _find_comment(
    hub: FakeGitHub, req: Request, owner: str, repo: str, comment_id: str, need: tuple[str, str]
) -> Comment:
    found = find_repo(hub, req, owner, repo, app=need)
    comment = hub.state.comments.get(int(comment_id)) if comment_id.isdigit() else None
    if comment is None or comment.repo is not found:
        raise not_found()
    return comment


def _may_edit(hub: FakeGitHub, req: Request, comment: Comment) -> Account:
    """The author may edit their comment; so may anyone who can push to the repository
    (which is how a candidate can edit the bot's comment), and an App with write access."""
    user = _caller(req)
    ident = req.identity
    assert ident is not None
    if ident.kind == "installation":
        access.require(hub.state, ident, comment.repo, app=_comment_need(req))
        return user
    if user is comment.user or access.user_level(hub.state, user, comment.repo) >= 3:
        return user
    raise ApiError(403, "You must have push access to edit comments on this repository.")


# REST: "Get an issue comment" (issues/comments)
@route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def get_comment(hub: FakeGitHub, req: Request, owner: str, repo: str, comment_id: str) -> Response:
    comment = _find_comment(hub, req, owner, repo, comment_id, ("issues", "read"))
    return Response(200, shapes.comment(hub.state, hub.urls, comment))


# REST: "Update an issue comment" (issues/comments)
@route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def update_comment(
    hub: FakeGitHub, req: Request, owner: str, repo: str, comment_id: str
) -> Response:
    comment = _find_comment(hub, req, owner, repo, comment_id, ("metadata", "read"))
    editor = _may_edit(hub, req, comment)
    body = req.json().get("body")
    if not isinstance(body, str) or not body:
        raise invalid("IssueComment", "body", code="missing_field")
    now = hub.state.now()
    comment.history.append(Edit(editor.login, now, comment.body, body))
    comment.body, comment.updated_at = body, now
    return Response(200, shapes.comment(hub.state, hub.urls, comment))


# REST: "Delete an issue comment" (issues/comments)
@route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def delete_comment(
    hub: FakeGitHub, req: Request, owner: str, repo: str, comment_id: str
) -> Response:
    comment = _find_comment(hub, req, owner, repo, comment_id, ("metadata", "read"))
    _may_edit(hub, req, comment)
    del hub.state.comments[comment.id]
    return Response(204)
