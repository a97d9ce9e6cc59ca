"""Endpoints for GitHub Apps, installations and the authenticated user."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from . import access, shapes
from .model import App, Installation, Token, iso
from .routes import ApiError, Request, Response, not_found, paginate, route

if TYPE_CHECKING:
    from .server import FakeGitHub

TOKEN_LIFETIME = 3600
NOT_GRANTED = "The permissions requested are not granted to this installation."
NOT_ACCESSIBLE = (
    "There is at least one repository that does not exist or is not accessible to the parent "
    "installation."
)


def _app(req: Request) -> App:
    assert req.identity is not None and req.identity.app is not None
    return req.identity.app


def _installations(hub: FakeGitHub, app: App) -> list[Installation]:
    return [i for i in hub.state.installations.values() if i.app is app]


# REST: "Get the authenticated app" (apps/apps)
@route("GET", "/app", jwt=True)
def get_app(hub: FakeGitHub, req: Request) -> Response:
    app = _app(req)
    data = shapes.app(hub.urls, app)
    data["installations_count"] = len(_installations(hub, app))
    return Response(200, data)


# REST: "List installations for the authenticated app" (apps/apps)
@route("GET", "/app/installations", jwt=True)
def list_installations(hub: FakeGitHub, req: Request) -> Response:
    items = _installations(hub, _app(req))
    return paginate(req, items, lambda inst: shapes.installation(hub.urls, inst))


# REST: "Get an installation for the authenticated app" (apps/apps)
@route("GET", "/app/installations/{installation_id}", jwt=True)
def get_installation(hub: FakeGitHub, req: Request, installation_id: str) -> Response:
    inst = hub.state.installations.get(_int(installation_id))
    if inst is None or inst.app is not _app(req):
        raise not_found()
    return Response(200, shapes.installation(hub.urls, inst))


# REST: "Get an organization installation for the authenticated app" (apps/apps)
@route("GET", "/orgs/{org}/installation", jwt=True)
def get_org_installation(hub: FakeGitHub, req: Request, org: str) -> Response:
    for inst in _installations(hub, _app(req)):
        if inst.account.login.lower() == org.lower():
            return Response(200, shapes.installation(hub.urls, inst))
    raise not_found()


# REST: "Get a repository installation for the authenticated app" (apps/apps)
@route("GET", "/repos/{owner}/{repo}/installation", jwt=True)
def get_repo_installation(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = hub.state.repo(owner, repo)
    if found is not None:
        for inst in _installations(hub, _app(req)):
            if found.id in access.installation_repo_ids(hub.state, inst):
                return Response(200, shapes.installation(hub.urls, inst))
    raise not_found()


# REST: "Create an installation access token for an app" (apps/apps)
@route("POST", "/app/installations/{installation_id}/access_tokens", jwt=True)
def create_access_token(hub: FakeGitHub, req: Request, installation_id: str) -> Response:
    inst = hub.state.installations.get(_int(installation_id))
    if inst is None or inst.app is not _app(req):
        raise not_found()
    body = req.json()
    permissions = _granted(inst, body.get("permissions") or {})
    repo_ids = _scoped_repos(hub, inst, body.get("repositories"), body.get("repository_ids"))
    token = Token(
        value="ghs_" + secrets.token_hex(18),
        user=inst.app.bot,
        installation=inst,
        repo_ids=repo_ids,
        permissions=permissions,
        expires_at=time.time() + TOKEN_LIFETIME,
    )
    hub.state.tokens[token.value] = token
    data = {
        "token": token.value,
        "expires_at": iso(token.expires_at),
        "permissions": permissions,
        "repository_selection": "selected" if repo_ids is not None else inst.repository_selection,
    }
    if repo_ids is not None:
        repos = [hub.state.repos_by_id[i] for i in sorted(repo_ids)]
        data["repositories"] = [shapes.repository(hub.state, hub.urls, r) for r in repos]
    return Response(201, data)


def _granted(inst: Installation, requested: object) -> dict[str, str]:
    """The requested permissions, each no more than the App has; all of them when none."""
    if not isinstance(requested, dict):
        raise ApiError(422, NOT_GRANTED)
    granted = inst.app.permissions
    for name, value in requested.items():
        have = access.APP_LEVELS.get(granted.get(name, ""), 0)
        if value not in access.APP_LEVELS or access.APP_LEVELS[value] > have:
            raise ApiError(422, NOT_GRANTED)
    if not requested:
        return dict(granted)
    return {**requested, "metadata": requested.get("metadata", "read")}  # always granted


def _scoped_repos(
    hub: FakeGitHub, inst: Installation, names: object, ids: object
) -> set[int] | None:
    if not names and not ids:
        return None
    if not isinstance(names or [], list) or not isinstance(ids or [], list):
        raise ApiError(422, NOT_ACCESSIBLE)
    allowed = access.installation_repo_ids(hub.state, inst)
    wanted: set[int] = set()
    for name in names or []:
        repo = hub.state.repo(inst.account.login, str(name))
        if repo is None or repo.id not in allowed:
            raise ApiError(422, NOT_ACCESSIBLE)
        wanted.add(repo.id)
    for ident in ids or []:
        if ident not in allowed:
            raise ApiError(422, NOT_ACCESSIBLE)
        wanted.add(int(ident))
    return wanted


# REST: "List repositories accessible to the app installation" (apps/installations)
@route("GET", "/installation/repositories")
def installation_repositories(hub: FakeGitHub, req: Request) -> Response:
    ident = req.identity
    if ident is None or ident.kind != "installation" or ident.token is None:
        raise ApiError(403, "This endpoint can only be accessed with an installation token")
    assert ident.installation is not None
    ids = sorted(access.token_repo_ids(hub.state, ident.token))
    repos = [hub.state.repos_by_id[i] for i in ids]
    selection = (
        "selected"
        if ident.token.repo_ids is not None
        else (ident.installation.repository_selection)
    )
    return paginate(
        req,
        repos,
        lambda r: shapes.repository(hub.state, hub.urls, r, ident),
        key="repositories",
        extra={"repository_selection": selection},
    )


# REST: "Get the authenticated user" (users/users)
@route("GET", "/user")
def get_authenticated_user(hub: FakeGitHub, req: Request) -> Response:
    account = access.user_required(req.identity)
    return Response(200, shapes.full_user(hub.urls, account))


# REST: "Get a user" (users/users)
@route("GET", "/users/{username}")
def get_user(hub: FakeGitHub, req: Request, username: str) -> Response:
    account = hub.state.account(username)
    if account is None:
        raise not_found()
    return Response(200, shapes.full_user(hub.urls, account))


# REST: "Get an organization" (orgs/orgs)
@route("GET", "/orgs/{org}")
def get_org(hub: FakeGitHub, req: Request, org: str) -> Response:
    account = hub.state.account(org)
    if account is None or account.type != "Organization":
        raise not_found()
    return Response(200, shapes.organization(hub.urls, account))


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise not_found() from exc
