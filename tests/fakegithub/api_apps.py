"""Endpoints for GitHub Apps, installations and the authenticated user."""

from __future__ import annotations

import json
import secrets
import urllib.parse
from typing import TYPE_CHECKING, Any

from . import access, shapes
from .model import App, Installation, Token, iso
from .routes import ApiError, Request, Response, not_found, paginate, route
from .webhooks import RETENTION_SECONDS, Delivery

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
        expires_at=hub.state.now() + TOKEN_LIFETIME,  # an hour of server time
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


# ----- the App's webhook deliveries -------------------------------------------------------


def _app_deliveries(hub: FakeGitHub, app: App) -> list[Delivery]:
    """Attempts made to the App's hook within the retention period, newest first. Deliveries
    older than 3 days are gone, for listing and for redelivery ("Redelivering webhooks":
    github/docs data/variables/webhooks.yml sets the retention to 3 days on github.com)."""
    since = hub.state.now() - RETENTION_SECONDS
    found = [
        d
        for d in hub.hooks.snapshot()
        if d.hook.target == f"app:{app.id}"
        and d.delivered_at is not None
        and d.delivered_at >= since
    ]
    return sorted(found, key=lambda d: d.id, reverse=True)


def _delivery_item(d: Delivery) -> dict[str, Any]:
    """Schema "hook-delivery-item" (github/rest-api-description)."""
    return {
        "id": d.id,
        "guid": d.guid,
        "delivered_at": iso(d.delivered_at),
        "redelivery": d.redelivery,
        "duration": d.duration,
        "status": d.status_text,
        "status_code": d.status_code,
        "event": d.event,
        "action": d.action,
        "installation_id": d.installation_id,
        "repository_id": d.repository_id,
        "throttled_at": None,
    }


def _find_delivery(hub: FakeGitHub, req: Request, delivery_id: str) -> Delivery:
    wanted = _int(delivery_id)
    for delivery in _app_deliveries(hub, _app(req)):
        if delivery.id == wanted:
            return delivery
    raise not_found()


# REST: "List deliveries for an app webhook" (apps/webhooks). JWT; newest first; `per_page`
# (at most 100), `cursor` (the first delivery of the page, as the Link header gives it) and
# `redelivery` (true or false).
@route("GET", "/app/hook/deliveries", jwt=True)
def list_hook_deliveries(hub: FakeGitHub, req: Request) -> Response:
    items = _app_deliveries(hub, _app(req))
    redelivery = req.arg("redelivery")
    if redelivery in ("true", "false"):
        items = [d for d in items if d.redelivery == (redelivery == "true")]
    per_page = min(max(req.int_arg("per_page", 30), 1), 100)
    cursor = req.arg("cursor")
    if cursor:
        start = _cursor_id(cursor)
        items = [d for d in items if d.id <= start]
    page, rest = items[:per_page], items[per_page:]
    headers = {}
    if rest:
        query = [(k, v) for k, v in req.query if k != "cursor"]
        query.append(("cursor", f"v1_{rest[0].id}"))
        url = f"{req.urls.api}/app/hook/deliveries?{urllib.parse.urlencode(query)}"
        headers["Link"] = f'<{url}>; rel="next"'
    return Response(200, [_delivery_item(d) for d in page], headers)


def _cursor_id(cursor: str) -> int:
    try:
        return int(cursor.removeprefix("v1_"))
    except ValueError as exc:
        raise ApiError(400, "Invalid cursor") from exc


# REST: "Get a delivery for an app webhook" (apps/webhooks). Schema "hook-delivery": the item
# fields, the hook's `url`, and the request (headers, payload) and response (headers, body).
@route("GET", "/app/hook/deliveries/{delivery_id}", jwt=True)
def get_hook_delivery(hub: FakeGitHub, req: Request, delivery_id: str) -> Response:
    d = _find_delivery(hub, req, delivery_id)
    data = {
        **_delivery_item(d),
        "url": d.hook.url,
        "request": {"headers": d.headers(), "payload": json.loads(d.body)},
        "response": {"headers": d.response_headers, "payload": d.response_body or None},
    }
    return Response(200, data)


# REST: "Redeliver a delivery for an app webhook" (apps/webhooks). 202 at once; the attempt
# is a new delivery record with the same guid and body and `redelivery` true, sent after this
# answer (the dispatcher flushes the outbox once the server's lock is released).
@route("POST", "/app/hook/deliveries/{delivery_id}/attempts", jwt=True)
def redeliver_hook_delivery(hub: FakeGitHub, req: Request, delivery_id: str) -> Response:
    d = _find_delivery(hub, req, delivery_id)
    hub.hooks.redeliver(d.id, flush=False)
    return Response(202, {})


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
