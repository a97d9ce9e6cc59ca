"""What a push or a new collaborator leaves behind: repository events (the events API),
`pushed_at`, and `push`/`member` webhooks with GitHub's payload shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import shapes
from .gitrepo import ZERO
from .model import ROLE_NAMES, Account, Event, Repo, iso

if TYPE_CHECKING:
    from .server import FakeGitHub

EVENT_COMMITS = 20  # the events API lists at most 20 commits of a push


def hook_targets(repo: Repo) -> list[str]:
    """Hooks on the repository and on its organisation both hear about it."""
    return [repo.full_name.lower(), repo.owner.login.lower()]


def sync_refs(hub: FakeGitHub, repo: Repo, pusher: Account) -> list[str]:
    """Compare the repository's branches with those last seen and record each change as a
    push by `pusher`. Returns the branches that changed. Call with the state lock held."""
    after = hub.git.refs(repo.path)
    before, repo.refs = repo.refs, after
    changed = sorted(
        ref
        for ref in set(before) | set(after)
        if ref.startswith("refs/heads/") and before.get(ref) != after.get(ref)
    )
    if not changed:
        return []
    now = hub.state.now()
    repo.pushed_at = repo.updated_at = now
    for ref in changed:
        record_push(hub, repo, pusher, ref, before.get(ref, ZERO), after.get(ref, ZERO), before)
    return changed


def record_push(
    hub: FakeGitHub,
    repo: Repo,
    pusher: Account,
    ref: str,
    old: str,
    new: str,
    before: dict[str, str],
) -> None:
    exclude = [old] if old != ZERO else list(before.values())
    shas = [] if new == ZERO else hub.git.rev_list(repo.path, new, exclude, EVENT_COMMITS)
    size = 0 if new == ZERO else hub.git.count_new(repo.path, new, exclude)
    commits = [commit_payload(hub, repo, sha) for sha in shas]
    push_id = hub.state.next_id()
    payload = {
        "repository_id": repo.id,
        "push_id": push_id,
        "size": size,
        "distinct_size": size,
        "ref": ref,
        "head": new,
        "before": old,
        "commits": [
            {
                "sha": c["id"],
                "author": {"email": c["author"]["email"], "name": c["author"]["name"]},
                "message": c["message"],
                "distinct": True,
                "url": f"{hub.urls.api}/repos/{repo.full_name}/commits/{c['id']}",
            }
            for c in commits
        ],
    }
    now = hub.state.now()
    repo.events.append(Event(hub.state.next_id(), "PushEvent", pusher, repo, payload, now))
    hub.hooks.emit(
        hook_targets(repo),
        "push",
        push_webhook(hub, repo, pusher, ref, old, new, commits),
        hub.state.next_id,
    )


def commit_payload(hub: FakeGitHub, repo: Repo, sha: str) -> dict[str, Any]:
    """A commit as push webhooks describe it."""
    info = hub.git.commit_info(repo.path, sha)
    files = hub.git.changed_files(repo.path, sha)
    return {
        "id": sha,
        "tree_id": info.tree,
        "distinct": True,
        "message": info.message,
        "timestamp": iso(info.committer_date),
        "url": f"{hub.urls.base}/{repo.full_name}/commit/{sha}",
        "author": {"name": info.author.name, "email": info.author.email},
        "committer": {"name": info.committer.name, "email": info.committer.email},
        **files,
    }


def push_repository(hub: FakeGitHub, repo: Repo) -> dict[str, Any]:
    """The repository object of a push payload: `created_at` and `pushed_at` are Unix times
    there, `url` is the web page, and the owner carries `name` and `email`."""
    data = shapes.repository(hub.state, hub.urls, repo)
    data.pop("template_repository", None)
    data["url"] = data["html_url"]
    data["created_at"] = int(repo.created_at)
    data["pushed_at"] = int(repo.pushed_at) if repo.pushed_at is not None else None
    data["owner"] = {"name": repo.owner.login, "email": repo.owner.email, **data["owner"]}
    return data


def push_webhook(
    hub: FakeGitHub,
    repo: Repo,
    pusher: Account,
    ref: str,
    old: str,
    new: str,
    commits: list[dict[str, Any]],
) -> dict[str, Any]:
    forced = old != ZERO and new != ZERO and not hub.git.is_ancestor(repo.path, old, new)
    payload: dict[str, Any] = {
        "ref": ref,
        "before": old,
        "after": new,
        "repository": push_repository(hub, repo),
        "pusher": {"name": pusher.login, "email": pusher.noreply_email},
        "sender": shapes.user(hub.urls, pusher),
        "created": old == ZERO,
        "deleted": new == ZERO,
        "forced": forced,
        "base_ref": None,
        "compare": f"{hub.urls.base}/{repo.full_name}/compare/{old[:12]}...{new[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits and commits[-1]["id"] == new else None,
    }
    if new != ZERO and payload["head_commit"] is None:
        payload["head_commit"] = commit_payload(hub, repo, new)
    if repo.owner.type == "Organization":
        payload["organization"] = shapes.organization(hub.urls, repo.owner)
    return payload


def member_added(
    hub: FakeGitHub, repo: Repo, member: Account, sender: Account, permission: str
) -> None:
    """A collaborator joined: a MemberEvent and a `member` webhook (action "added")."""
    now = hub.state.now()
    user = shapes.user(hub.urls, member)
    event = Event(
        hub.state.next_id(), "MemberEvent", sender, repo, {"member": user, "action": "added"}, now
    )
    repo.events.append(event)
    role = ROLE_NAMES[permission]
    payload: dict[str, Any] = {
        "action": "added",
        "member": user,
        "changes": {"permission": {"to": role}, "role_name": {"to": role}},
        "repository": shapes.repository(hub.state, hub.urls, repo),
        "sender": shapes.user(hub.urls, sender),
    }
    if repo.owner.type == "Organization":
        payload["organization"] = shapes.organization(hub.urls, repo.owner)
    hub.hooks.emit(hook_targets(repo), "member", payload, hub.state.next_id)
