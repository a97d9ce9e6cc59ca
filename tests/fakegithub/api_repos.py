"""Endpoints for repositories, collaborators, invitations and teams."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from . import access, activity, repos, shapes
from .access import Identity
from .model import ROLE_NAMES, Account, Invitation, Repo, Team, level, normalize_permission
from .routes import ApiError, Request, Response, invalid, not_found, paginate, route

if TYPE_CHECKING:
    from .server import FakeGitHub


def find_repo(
    hub: FakeGitHub,
    req: Request,
    owner: str,
    name: str,
    *,
    role: str = "pull",
    app: tuple[str, str] = ("metadata", "read"),
) -> Repo:
    """The repository, after checking the caller may act on it (see access.require)."""
    repo = hub.state.repo(owner, name)
    if repo is None:
        raise not_found()
    access.require(hub.state, req.identity, repo, role=role, app=app)
    return repo


def find_org(hub: FakeGitHub, login: str) -> Account:
    org = hub.state.account(login)
    if org is None or org.type != "Organization":
        raise not_found()
    return org


def may_create_in(hub: FakeGitHub, ident: Identity | None, owner: Account) -> Account:
    """The account the new repository is created by; refuses callers who may not."""
    if ident is None:
        raise ApiError(401, "Requires authentication")
    if ident.kind == "installation" and ident.installation is not None:
        if (
            ident.installation.account is owner
            and access.app_permission(ident, "administration") >= 2
        ):
            assert ident.account is not None
            return ident.account
        raise ApiError(403, "Resource not accessible by integration")
    account = access.user_required(ident)
    if owner is account or owner.members.get(account.login.lower()):
        return account
    raise ApiError(
        403, "You need admin access to the organization before adding a repository to it."
    )


# REST: "Get a repository" (repos/repos)
@route("GET", "/repos/{owner}/{repo}")
def get_repo(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo)
    return Response(200, shapes.repository(hub.state, hub.urls, found, req.identity))


# REST: "Delete a repository" (repos/repos): admin access (Administration: write for an App);
# 204, and the repository is gone with its invitations (the REST reference's description,
# as the OpenAPI description's operation repos/delete repeats it).
@route("DELETE", "/repos/{owner}/{repo}")
def delete_repo(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, role="admin", app=("administration", "write"))
    del hub.state.repos[found.full_name.lower()]
    del hub.state.repos_by_id[found.id]
    for inv in [i for i in hub.state.invitations.values() if i.repo is found]:
        del hub.state.invitations[inv.id]
    for team in hub.state.teams.values():
        team.repos.pop(found.id, None)
    shutil.rmtree(found.path, ignore_errors=True)
    return Response(204)


# REST: "Create an organization repository" (repos/repos)
@route("POST", "/orgs/{org}/repos")
def create_org_repo(hub: FakeGitHub, req: Request, org: str) -> Response:
    owner = find_org(hub, org)
    creator = may_create_in(hub, req.identity, owner)
    body = req.json()
    repo = repos.create(
        hub,
        owner,
        body.get("name"),
        private=bool(body.get("private", False)) or body.get("visibility") == "private",
        creator=creator,
        is_template=bool(body.get("is_template", False)),
        description=body.get("description"),
        auto_init=bool(body.get("auto_init", False)),
    )
    for team in hub.state.teams_of(owner):
        if team.id == body.get("team_id"):
            team.repos[repo.id] = "pull"
    return Response(201, shapes.repository(hub.state, hub.urls, repo, req.identity))


# REST: "Create a repository using a template" (repos/repos)
@route("POST", "/repos/{template_owner}/{template_repo}/generate")
def generate_repo(
    hub: FakeGitHub, req: Request, template_owner: str, template_repo: str
) -> Response:
    template = find_repo(hub, req, template_owner, template_repo)
    body = req.json()
    if not body.get("name"):
        raise invalid("Repository", "name", code="missing_field")
    if req.identity is not None and req.identity.account is not None:
        default_owner = req.identity.account.login
    else:
        default_owner = ""
    owner = hub.state.account(str(body.get("owner") or default_owner))
    if owner is None or owner.type == "Bot":
        raise invalid("Repository", "owner", message="owner is invalid")
    creator = may_create_in(hub, req.identity, owner)
    repo = repos.generate(
        hub,
        template,
        owner,
        body["name"],
        private=body.get("private", False) is True,
        creator=creator,
        include_all_branches=bool(body.get("include_all_branches", False)),
        description=body.get("description"),
    )
    return Response(201, shapes.repository(hub.state, hub.urls, repo, req.identity))


# REST: "List organization repositories" (repos/repos)
@route("GET", "/orgs/{org}/repos")
def list_org_repos(hub: FakeGitHub, req: Request, org: str) -> Response:
    owner = find_org(hub, org)
    kind = req.arg("type", "all")
    items = [
        r
        for r in hub.state.owned_repos(owner)
        if access.can_read(hub.state, req.identity, r)
        and (kind not in ("public", "private") or r.private == (kind == "private"))
    ]
    sort = req.arg("sort", "created")
    direction = req.arg("direction", "asc" if sort == "full_name" else "desc")
    keys = {
        "full_name": lambda r: r.full_name.lower(),
        "updated": lambda r: r.updated_at,
        "pushed": lambda r: r.pushed_at or 0,
    }
    items.sort(key=keys.get(sort, lambda r: (r.created_at, r.id)), reverse=direction == "desc")
    return paginate(req, items, lambda r: shapes.repository(hub.state, hub.urls, r, req.identity))


def collaborator_levels(hub: FakeGitHub, repo: Repo, affiliation: str) -> dict[str, int]:
    """Lower login -> permission level of everyone with access to the repository."""
    found: dict[str, int] = {}
    if affiliation in ("all", "direct", "outside"):
        for login, permission in repo.collaborators.items():
            if affiliation == "outside" and login in repo.owner.members:
                continue
            found[login] = max(found.get(login, 0), level(permission))
    if affiliation == "all":
        if repo.owner.type == "User":
            found[repo.owner.login.lower()] = 5
        # Members reach every organisation repository through the base role, owners as admins
        # (REST "List repository collaborators": the list includes both).
        base = access.base_level(repo.owner) if repo.owner.type == "Organization" else 0
        for login, role in repo.owner.members.items():
            if role == "admin":
                found[login] = 5
            elif base:
                found[login] = max(found.get(login, 0), base)
        for team in hub.state.teams_of(repo.owner):
            if repo.id in team.repos:
                for login in team.members:
                    found[login] = max(found.get(login, 0), level(team.repos[repo.id]))
    return found


# REST: "List repository collaborators" (collaborators/collaborators)
@route("GET", "/repos/{owner}/{repo}/collaborators")
def list_collaborators(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, role="push")
    levels = collaborator_levels(hub, found, req.arg("affiliation", "all") or "all")
    people = [(hub.state.accounts[login], lvl) for login, lvl in levels.items()]
    people.sort(key=lambda pair: pair[0].id)
    return paginate(req, people, lambda pair: shapes.collaborator(hub.urls, *pair), repo=found)


# REST: "Check if a user is a repository collaborator" (collaborators/collaborators)
@route("GET", "/repos/{owner}/{repo}/collaborators/{username}")
def check_collaborator(
    hub: FakeGitHub, req: Request, owner: str, repo: str, username: str
) -> Response:
    found = find_repo(hub, req, owner, repo)
    if username.lower() in collaborator_levels(hub, found, "all"):
        return Response(204)
    return Response(404)


ROLE_OF_LEVEL = {0: "none", 1: "read", 2: "triage", 3: "write", 4: "maintain", 5: "admin"}
# The older `permission` field of "Get repository permissions for a user" folds triage into
# read and maintain into write.
LEGACY_PERMISSION = {0: "none", 1: "read", 2: "read", 3: "write", 4: "write", 5: "admin"}


def _pending(hub: FakeGitHub, repo: Repo, invitee: Account) -> Invitation | None:
    for inv in hub.state.invitations.values():
        if inv.repo is repo and inv.invitee is invitee:
            return inv
    return None


# REST: "Add a repository collaborator" (collaborators/collaborators).
# - 204 for someone who already has access as a collaborator or member: the permission is
#   changed in place ("Updating an existing collaborator's permission level").
# - 201 with a new invitation for anyone else.
# - 422 "Cannot assign ..." when a member would get less than the organisation's base role.
# - An organisation owner stays admin whatever the call says (access.user_level).
# - While an invitation exists, even an expired one, the call answers 201 with that same
#   invitation and sends no new one: a new invitation needs the old one deleted (community
#   discussions #40572 and #209255; integrations/terraform-provider-github#3645).
@route("PUT", "/repos/{owner}/{repo}/collaborators/{username}")
def add_collaborator(
    hub: FakeGitHub, req: Request, owner: str, repo: str, username: str
) -> Response:
    found = find_repo(hub, req, owner, repo, role="admin", app=("administration", "write"))
    permission = normalize_permission(req.json().get("permission", "push"))
    if permission is None:
        raise invalid("Repository", "permission", message="permission is invalid")
    invitee = hub.state.account(username)
    if invitee is None or invitee.type != "User":
        raise not_found()
    if invitee is found.owner:
        raise invalid(
            "Repository",
            "collaborator",
            code="custom",
            message="Repository owner cannot be a collaborator",
        )
    login = invitee.login.lower()
    org = found.owner if found.owner.type == "Organization" else None
    if org is not None and login in org.members:
        # Members are added directly (204, no invitation), at no less than the base role.
        if org.members[login] != "admin" and level(permission) < access.base_level(org):
            message = f"Cannot assign {invitee.login} permission of {ROLE_NAMES[permission]}"
            raise ApiError(422, message)
        found.collaborators[login] = permission
        return Response(204)
    if login in found.collaborators:
        found.collaborators[login] = permission
        return Response(204)
    inv = _pending(hub, found, invitee)
    if inv is not None:
        if not inv.expired(hub.state.now()):
            inv.permission = permission
        return Response(201, shapes.invitation(hub.state, hub.urls, inv))
    inviter = req.identity.account if req.identity else None
    assert inviter is not None
    inv = Invitation(hub.state.next_id(), found, invitee, inviter, permission, hub.state.now())
    hub.state.invitations[inv.id] = inv
    return Response(201, shapes.invitation(hub.state, hub.urls, inv))


# REST: "Remove a repository collaborator" (collaborators/collaborators): the direct grant
# goes, and so do the user's outstanding invitations to the repository.
@route("DELETE", "/repos/{owner}/{repo}/collaborators/{username}")
def remove_collaborator(
    hub: FakeGitHub, req: Request, owner: str, repo: str, username: str
) -> Response:
    found = find_repo(hub, req, owner, repo, role="admin", app=("administration", "write"))
    account = hub.state.account(username)
    if account is None:
        raise not_found()
    found.collaborators.pop(account.login.lower(), None)
    for inv in [i for i in hub.state.invitations.values() if i.repo is found]:
        if inv.invitee is account:
            del hub.state.invitations[inv.id]
    return Response(204)


# REST: "Get repository permissions for a user" (collaborators/collaborators): `permission`
# is admin, write, read or none; `role_name` the precise role; `user` the collaborator.
@route("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission")
def collaborator_permission(
    hub: FakeGitHub, req: Request, owner: str, repo: str, username: str
) -> Response:
    found = find_repo(hub, req, owner, repo)
    account = hub.state.account(username)
    if account is None or account.type == "Organization":
        raise not_found()
    lvl = access.user_level(hub.state, account, found) if account.type == "User" else 0
    user = shapes.collaborator(hub.urls, account, lvl) if lvl else None
    body = {
        "permission": LEGACY_PERMISSION[lvl],
        "role_name": ROLE_OF_LEVEL[lvl],
        "user": user,
    }
    return Response(200, body)


# REST: "List repository invitations" (collaborators/invitations)
@route("GET", "/repos/{owner}/{repo}/invitations")
def list_repo_invitations(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo, role="admin", app=("administration", "read"))
    items = [inv for inv in hub.state.invitations.values() if inv.repo is found]
    return paginate(req, items, lambda inv: shapes.invitation(hub.state, hub.urls, inv), repo=found)


# REST: "List repository invitations for the authenticated user" (collaborators/invitations)
@route("GET", "/user/repository_invitations")
def list_my_invitations(hub: FakeGitHub, req: Request) -> Response:
    account = access.user_required(req.identity)
    # Only open invitations: an expired one no longer reaches its invitee.
    now = hub.state.now()
    items = [
        inv
        for inv in hub.state.invitations.values()
        if inv.invitee is account and not inv.expired(now)
    ]
    return paginate(req, items, lambda inv: shapes.invitation(hub.state, hub.urls, inv))


def _repo_invitation(
    hub: FakeGitHub, req: Request, owner: str, repo: str, invitation_id: str
) -> Invitation:
    found = find_repo(hub, req, owner, repo, role="admin", app=("administration", "write"))
    inv = hub.state.invitations.get(int(invitation_id)) if invitation_id.isdigit() else None
    if inv is None or inv.repo is not found:
        raise not_found()
    return inv


# REST: "Delete a repository invitation" (collaborators/invitations): withdraws it, expired
# or not; the way to send someone a fresh invitation after the old one expired.
@route("DELETE", "/repos/{owner}/{repo}/invitations/{invitation_id}")
def delete_repo_invitation(
    hub: FakeGitHub, req: Request, owner: str, repo: str, invitation_id: str
) -> Response:
    inv = _repo_invitation(hub, req, owner, repo, invitation_id)
    del hub.state.invitations[inv.id]
    return Response(204)


# REST: "Update a repository invitation" (collaborators/invitations): `permissions` is read,
# write, maintain, triage or admin.
@route("PATCH", "/repos/{owner}/{repo}/invitations/{invitation_id}")
def update_repo_invitation(
    hub: FakeGitHub, req: Request, owner: str, repo: str, invitation_id: str
) -> Response:
    inv = _repo_invitation(hub, req, owner, repo, invitation_id)
    given = req.json().get("permissions")
    permission = normalize_permission(given) if isinstance(given, str) else None
    if given is not None and permission is None:
        raise invalid("RepositoryInvitation", "permissions", message="permissions is invalid")
    if permission is not None:
        inv.permission = permission
    return Response(200, shapes.invitation(hub.state, hub.urls, inv))


def _my_invitation(hub: FakeGitHub, req: Request, invitation_id: str) -> Invitation:
    account = access.user_required(req.identity)
    inv = hub.state.invitations.get(int(invitation_id)) if invitation_id.isdigit() else None
    if inv is None or inv.invitee is not account:
        raise not_found()
    return inv


# REST: "Accept a repository invitation" (collaborators/invitations)
@route("PATCH", "/user/repository_invitations/{invitation_id}")
def accept_invitation(hub: FakeGitHub, req: Request, invitation_id: str) -> Response:
    inv = _my_invitation(hub, req, invitation_id)
    if inv.expired(hub.state.now()):
        # Seven days on, the invitation can no longer be accepted (REST "Repository
        # invitations"; community discussion #40572): it is not found for its invitee.
        raise not_found()
    del hub.state.invitations[inv.id]
    inv.repo.collaborators[inv.invitee.login.lower()] = inv.permission
    activity.member_added(hub, inv.repo, inv.invitee, inv.inviter, inv.permission)
    return Response(204)


# REST: "Decline a repository invitation" (collaborators/invitations)
@route("DELETE", "/user/repository_invitations/{invitation_id}")
def decline_invitation(hub: FakeGitHub, req: Request, invitation_id: str) -> Response:
    inv = _my_invitation(hub, req, invitation_id)
    del hub.state.invitations[inv.id]
    return Response(204)


def find_team(hub: FakeGitHub, req: Request, org: str, team_slug: str) -> Team:
    owner = find_org(hub, org)
    team = hub.state.teams.get((owner.login.lower(), team_slug.lower()))
    ident = req.identity
    if team is None or ident is None:
        raise not_found()
    if ident.kind == "installation":
        if ident.installation is None or ident.installation.account is not owner:
            raise not_found()
    elif ident.account is None or ident.account.login.lower() not in owner.members:
        raise not_found()
    return team


# REST: "Get a team by name" (teams/teams)
@route("GET", "/orgs/{org}/teams/{team_slug}")
def get_team(hub: FakeGitHub, req: Request, org: str, team_slug: str) -> Response:
    return Response(200, shapes.team(hub.urls, find_team(hub, req, org, team_slug)))


# REST: "List team repositories" (teams/teams)
@route("GET", "/orgs/{org}/teams/{team_slug}/repos")
def list_team_repos(hub: FakeGitHub, req: Request, org: str, team_slug: str) -> Response:
    team = find_team(hub, req, org, team_slug)
    items = [hub.state.repos_by_id[i] for i in team.repos]

    def render(repo: Repo) -> dict[str, object]:
        data = shapes.repository(hub.state, hub.urls, repo)
        lvl = level(team.repos[repo.id])
        data["permissions"] = shapes.permissions(lvl)
        data["role_name"] = ["read", "triage", "write", "maintain", "admin"][lvl - 1]
        return data

    return paginate(req, items, render)


# REST: "Add or update team repository permissions" (teams/teams)
@route("PUT", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}")
def add_team_repo(
    hub: FakeGitHub, req: Request, org: str, team_slug: str, owner: str, repo: str
) -> Response:
    team = find_team(hub, req, org, team_slug)
    found = find_repo(hub, req, owner, repo, role="admin", app=("administration", "write"))
    if found.owner is not team.org:
        raise invalid(
            "Team",
            "repository",
            code="custom",
            message="Repository must be owned by the team's organization",
        )
    permission = normalize_permission(req.json().get("permission", "push"))
    if permission is None:
        raise invalid("Team", "permission", message="permission is invalid")
    team.repos[found.id] = permission
    return Response(204)
