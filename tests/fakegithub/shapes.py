"""JSON shapes of GitHub's REST objects, built from the server's state.

Field names follow GitHub's REST documentation; each function names the schema it follows."""

from __future__ import annotations

import urllib.parse
import zlib
from typing import Any

from . import access
from .gitrepo import CommitInfo, Person
from .model import (
    ROLE_NAMES,
    Account,
    Activity,
    App,
    CheckRun,
    Comment,
    Event,
    Installation,
    Invitation,
    PullRequest,
    Repo,
    State,
    Status,
    Team,
    iso,
    node_id,
)
from .routes import Urls


def user(urls: Urls, account: Account) -> dict[str, Any]:
    """Schema "simple-user"."""
    login = urllib.parse.quote(account.login)
    html = f"{urls.base}/apps/{account.app.slug}" if account.app else f"{urls.base}/{login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id(account.type, account.id),
        "avatar_url": f"{urls.base}/avatars/{login}",
        "gravatar_id": "",
        "url": f"{urls.api}/users/{login}",
        "html_url": html,
        "repos_url": f"{urls.api}/users/{login}/repos",
        "events_url": f"{urls.api}/users/{login}/events{{/privacy}}",
        "type": account.type,
        "user_view_type": "public",
        "site_admin": False,
    }


def full_user(urls: Urls, account: Account) -> dict[str, Any]:
    """Schema "public-user" (GET /user, GET /users/{username})."""
    return {
        **user(urls, account),
        "name": account.name,
        "email": account.email,
        "created_at": iso(account.created_at),
        "updated_at": iso(account.created_at),
    }


def organization(urls: Urls, org: Account) -> dict[str, Any]:
    """Schema "organization-full" (the fields we use)."""
    login = urllib.parse.quote(org.login)
    return {
        "login": org.login,
        "id": org.id,
        "node_id": node_id("Organization", org.id),
        "url": f"{urls.api}/orgs/{login}",
        "repos_url": f"{urls.api}/orgs/{login}/repos",
        "avatar_url": f"{urls.base}/avatars/{login}",
        "description": None,
        "name": org.name,
        "html_url": f"{urls.base}/{login}",
        "type": "Organization",
        "created_at": iso(org.created_at),
        "updated_at": iso(org.created_at),
    }


def permissions(level: int) -> dict[str, bool]:
    return {
        "admin": level >= 5,
        "maintain": level >= 4,
        "push": level >= 3,
        "triage": level >= 2,
        "pull": level >= 1,
    }


def caller_level(state: State, ident: access.Identity | None, repo: Repo) -> int:
    if ident is None or ident.kind == "app":
        return 1 if not repo.private else 0
    if ident.kind == "installation":
        write = access.app_permission(ident, "contents") >= 2
        admin = access.app_permission(ident, "administration") >= 2
        return 5 if admin else 3 if write else 1
    assert ident.account is not None
    return access.user_level(state, ident.account, repo)


def repository(
    state: State, urls: Urls, repo: Repo, ident: access.Identity | None = None
) -> dict[str, Any]:
    """Schema "full-repository", with `permissions` for the caller."""
    api = f"{urls.api}/repos/{repo.full_name}"
    data = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "owner": user(urls, repo.owner),
        "html_url": f"{urls.base}/{repo.full_name}",
        "description": repo.description,
        "fork": False,
        "url": api,
        "collaborators_url": f"{api}/collaborators{{/collaborator}}",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "pulls_url": f"{api}/pulls{{/number}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "git_url": f"{urls.git}/{repo.full_name}.git".replace("http://", "git://"),
        "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
        "clone_url": f"{urls.git}/{repo.full_name}.git",
        "svn_url": f"{urls.base}/{repo.full_name}",
        "default_branch": repo.default_branch,
        "is_template": repo.is_template,
        "archived": False,
        "disabled": False,
        "has_issues": True,
        "size": 0,
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.updated_at),
        "pushed_at": iso(repo.pushed_at),
    }
    if ident is not None:
        level = caller_level(state, ident, repo)
        data["permissions"] = permissions(level)
    if repo.template is not None:
        data["template_repository"] = repository(state, urls, repo.template)
    return data


def collaborator(urls: Urls, account: Account, permission_level: int) -> dict[str, Any]:
    """Schema "collaborator"."""
    names = ["read", "triage", "write", "maintain", "admin"]
    return {
        **user(urls, account),
        "permissions": permissions(permission_level),
        "role_name": names[permission_level - 1],
    }


def invitation(state: State, urls: Urls, inv: Invitation) -> dict[str, Any]:
    """Schema "repository-invitation"."""
    return {
        "id": inv.id,
        "node_id": node_id("RepositoryInvitation", inv.id),
        "repository": repository(state, urls, inv.repo),
        "invitee": user(urls, inv.invitee),
        "inviter": user(urls, inv.inviter),
        "permissions": ROLE_NAMES[inv.permission],
        "created_at": iso(inv.created_at),
        # Listed after its seven days with `expired: true` (mesh-iit/outside-collaborators#129
        # shows the field on the list; REST "Repository invitations").
        "expired": inv.expired(state.now()),
        "url": f"{urls.api}/user/repository_invitations/{inv.id}",
        "html_url": f"{urls.base}/{inv.repo.full_name}/invitations",
    }


def team(urls: Urls, t: Team) -> dict[str, Any]:
    """Schema "team-full"."""
    api = f"{urls.api}/organizations/{t.org.id}/team/{t.id}"
    return {
        "id": t.id,
        "node_id": node_id("Team", t.id),
        "url": api,
        "html_url": f"{urls.base}/orgs/{t.org.login}/teams/{t.slug}",
        "name": t.name,
        "slug": t.slug,
        "description": t.description,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": f"{api}/members{{/member}}",
        "repositories_url": f"{api}/repos",
        "parent": None,
        "members_count": len(t.members),
        "repos_count": len(t.repos),
        "organization": organization(urls, t.org),
    }


def git_person(person: Person, when: int) -> dict[str, Any]:
    return {"name": person.name, "email": person.email, "date": iso(when)}


def commit(state: State, urls: Urls, repo: Repo, info: CommitInfo) -> dict[str, Any]:
    """Schema "commit" (GET /repos/{owner}/{repo}/commits/{ref})."""
    api = f"{urls.api}/repos/{repo.full_name}"
    html = f"{urls.base}/{repo.full_name}"
    by_email = {a.noreply_email.lower(): a for a in state.accounts.values()}
    author = by_email.get(info.author.email.lower())
    committer = by_email.get(info.committer.email.lower())
    return {
        "sha": info.sha,
        "node_id": node_id("Commit", int(info.sha[:8], 16)),
        "commit": {
            "author": git_person(info.author, info.author_date),
            "committer": git_person(info.committer, info.committer_date),
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "url": f"{api}/git/commits/{info.sha}",
            "comment_count": 0,
        },
        "url": f"{api}/commits/{info.sha}",
        "html_url": f"{html}/commit/{info.sha}",
        "comments_url": f"{api}/commits/{info.sha}/comments",
        "author": user(urls, author) if author else None,
        "committer": user(urls, committer) if committer else None,
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{html}/commit/{p}"}
            for p in info.parents
        ],
    }


def git_ref(urls: Urls, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
    """Schema "git-ref"."""
    api = f"{urls.api}/repos/{repo.full_name}"
    return {
        "ref": ref,
        "node_id": node_id("Ref", zlib.crc32(f"{repo.id}:{ref}".encode())),
        "url": f"{api}/git/{ref}",
        "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
    }


def pull(
    state: State, urls: Urls, pr: PullRequest, head_sha: str | None, base_sha: str | None
) -> dict[str, Any]:
    """Schema "pull-request"."""
    repo = pr.repo
    api = f"{urls.api}/repos/{repo.full_name}"
    html = f"{urls.base}/{repo.full_name}/pull/{pr.number}"

    def side(ref: str, sha: str | None) -> dict[str, Any]:
        return {
            "label": f"{repo.owner.login}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": user(urls, repo.owner),
            "repo": repository(state, urls, repo),
        }

    return {
        "url": f"{api}/pulls/{pr.number}",
        "id": pr.id,
        "node_id": node_id("PullRequest", pr.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": f"{api}/issues/{pr.number}",
        "comments_url": f"{api}/issues/{pr.number}/comments",
        "number": pr.number,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "user": user(urls, pr.user),
        "body": pr.body,
        "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at),
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "draft": False,
        "head": side(pr.head_ref, head_sha),
        "base": side(pr.base_ref, base_sha),
        "author_association": association(state, repo, pr.user),
        "merged": False,
    }


def association(state: State, repo: Repo, account: Account) -> str:
    """GitHub's author_association for a commenter on this repository."""
    if account.type == "Bot":
        return "NONE"
    if repo.owner is account:
        return "OWNER"
    if repo.owner.type == "Organization" and account.login.lower() in repo.owner.members:
        return "MEMBER"
    if account.login.lower() in repo.collaborators:
        return "COLLABORATOR"
    return "NONE"


def comment(state: State, urls: Urls, c: Comment) -> dict[str, Any]:
    """Schema "issue-comment"."""
    api = f"{urls.api}/repos/{c.repo.full_name}"
    html = f"{urls.base}/{c.repo.full_name}/pull/{c.number}#issuecomment-{c.id}"
    return {
        "id": c.id,
        "node_id": node_id("IssueComment", c.id),
        "url": f"{api}/issues/comments/{c.id}",
        "html_url": html,
        "issue_url": f"{api}/issues/{c.number}",
        "body": c.body,
        "user": user(urls, c.user),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "author_association": association(state, c.repo, c.user),
        "performed_via_github_app": app(urls, c.user.app) if c.user.app else None,
    }


def app(urls: Urls, a: App) -> dict[str, Any]:
    """Schema "integration" (GitHub App)."""
    return {
        "id": a.id,
        "slug": a.slug,
        "node_id": node_id("Integration", a.id),
        "client_id": f"Iv1.{a.id:016x}",
        "owner": user(urls, a.owner),
        "name": a.name,
        "description": "",
        "external_url": f"{urls.base}/{a.owner.login}",
        "html_url": f"{urls.base}/apps/{a.slug}",
        "created_at": iso(a.created_at),
        "updated_at": iso(a.created_at),
        "permissions": dict(a.permissions),
        "events": list(a.events),
    }


def installation(urls: Urls, inst: Installation) -> dict[str, Any]:
    """Schema "installation"."""
    return {
        "id": inst.id,
        "account": user(urls, inst.account),
        "repository_selection": inst.repository_selection,
        "access_tokens_url": f"{urls.api}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{urls.api}/installation/repositories",
        "html_url": f"{urls.base}/organizations/{inst.account.login}/settings/installations/"
        f"{inst.id}",
        "app_id": inst.app.id,
        "app_slug": inst.app.slug,
        "target_id": inst.account.id,
        "target_type": inst.account.type,
        "permissions": dict(inst.app.permissions),
        "events": list(inst.app.events),
        "created_at": iso(inst.created_at),
        "updated_at": iso(inst.created_at),
        "single_file_name": None,
        "suspended_at": None,
        "suspended_by": None,
    }


def check_run(urls: Urls, run: CheckRun) -> dict[str, Any]:
    """Schema "check-run"."""
    api = f"{urls.api}/repos/{run.repo.full_name}"
    html = f"{urls.base}/{run.repo.full_name}/runs/{run.id}"
    output = {
        "title": run.output.get("title"),
        "summary": run.output.get("summary"),
        "text": run.output.get("text"),
        "annotations_count": 0,
        "annotations_url": f"{api}/check-runs/{run.id}/annotations",
    }
    return {
        "id": run.id,
        "head_sha": run.head_sha,
        "node_id": node_id("CheckRun", run.id),
        "external_id": run.external_id,
        "url": f"{api}/check-runs/{run.id}",
        "html_url": html,
        "details_url": run.details_url or html,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at),
        "output": output,
        "name": run.name,
        "check_suite": {"id": run.suite_id},
        "app": app(urls, run.app),
        "pull_requests": [],
    }


def status(urls: Urls, s: Status) -> dict[str, Any]:
    """Schema "status"."""
    return {
        "url": f"{urls.api}/repos/{s.repo.full_name}/statuses/{s.sha}",
        "avatar_url": None,
        "id": s.id,
        "node_id": node_id("StatusContext", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.created_at),
        "creator": user(urls, s.creator),
    }


def event(urls: Urls, e: Event) -> dict[str, Any]:
    """Schema "event" (the repository events API)."""
    return {
        "id": str(e.id),
        "type": e.type,
        "actor": {
            "id": e.actor.id,
            "login": e.actor.login,
            "display_login": e.actor.login,
            "gravatar_id": "",
            "url": f"{urls.api}/users/{urllib.parse.quote(e.actor.login)}",
            "avatar_url": f"{urls.base}/avatars/{urllib.parse.quote(e.actor.login)}",
        },
        "repo": {
            "id": e.repo.id,
            "name": e.repo.full_name,
            "url": f"{urls.api}/repos/{e.repo.full_name}",
        },
        "payload": e.payload,
        "public": not e.repo.private,
        "created_at": iso(e.created_at),
        **(
            {"org": {"id": e.repo.owner.id, "login": e.repo.owner.login}}
            if e.repo.owner.type == "Organization"
            else {}
        ),
    }


def activity(urls: Urls, a: Activity) -> dict[str, Any]:
    """Schema "activity" (REST "List repository activities"; github/rest-api-description):
    id, node_id, before, after, ref, timestamp, activity_type, actor (nullable simple-user)."""
    return {
        "id": a.id,
        "node_id": node_id("RepositoryActivity", a.id),
        "before": a.before,
        "after": a.after,
        "ref": a.ref,
        "timestamp": iso(a.timestamp),
        "activity_type": a.activity_type,
        "actor": user(urls, a.actor) if a.actor is not None else None,
    }
