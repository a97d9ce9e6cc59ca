"""What a push or a new collaborator leaves behind: repository events (the events API),
repository activities (the activity API), `pushed_at`, and `push`/`member` webhooks with
GitHub's payload shapes.

Events and activities are both recorded at the moment of the change, on the server clock; the
events API shows an event only after a lag (api_activity.py), the activity API at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import access, shapes
from .gitrepo import ZERO
from .model import ROLE_NAMES, Account, Activity, Event, Repo, iso
from .webhooks import Target

if TYPE_CHECKING:
    from .server import FakeGitHub

EVENT_COMMITS = 20  # the events API lists at most 20 commits of a push
ACTIVITY_TYPES = (
    "push",
    "force_push",
    "branch_creation",
    "branch_deletion",
    "pr_merge",
    "merge_queue_merge",
)


def hook_targets(hub: FakeGitHub, repo: Repo) -> list[Target]:
    """Hooks on the repository and on its organisation both hear about it, and so does the
    hook of every GitHub App with an installation that reaches the repository (an App
    receives the events of the repositories it is installed on: "Using webhooks with GitHub
    Apps", docs.github.com)."""
    targets: list[Target] = [(repo.full_name.lower(), None), (repo.owner.login.lower(), None)]
    for inst in hub.state.installations.values():
        if repo.id in access.installation_repo_ids(hub.state, inst):
            targets.append((f"app:{inst.app.id}", inst.id))
    return targets


def sync_refs(
    hub: FakeGitHub, repo: Repo, pusher: Account, activity_type: str | None = None
) -> list[str]:
    """Compare the repository's branches with those last seen and record each change as a
    push by `pusher`. Returns the branches that changed. Call with the state lock held.

    Each change is also a repository activity, typed from the refs (`branch_creation`,
    `branch_deletion`, `force_push` when the old head is not an ancestor of the new, else
    `push`) unless `activity_type` names it (e.g. `pr_merge` for a merge)."""
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
        old, new = before.get(ref, ZERO), after.get(ref, ZERO)
        record_activity(hub, repo, pusher, ref, old, new, activity_type)
        record_push(hub, repo, pusher, ref, old, new, before)
    return changed


def record_activity(
    hub: FakeGitHub,
    repo: Repo,
    actor: Account | None,
    ref: str,
    old: str,
    new: str,
    activity_type: str | None = None,
) -> Activity:
    """One entry for the activity API (REST "List repository activities"), timestamped now."""
    if activity_type is None:
        if old == ZERO:
            activity_type = "branch_creation"
        elif new == ZERO:
            activity_type = "branch_deletion"
        elif not hub.git.is_ancestor(repo.path, old, new):
            activity_type = "force_push"
        else:
            activity_type = "push"
    if activity_type not in ACTIVITY_TYPES:
        raise ValueError(f"unknown activity type {activity_type!r}; choose from {ACTIVITY_TYPES}")
    entry = Activity(hub.state.next_id(), old, new, ref, hub.state.now(), activity_type, actor)
    repo.activities.append(entry)
    return entry


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
        hook_targets(hub, repo),
        "push",
        push_webhook(hub, repo, pusher, ref, old, new, commits),
        hub.state.next_id,
        repository_id=repo.id,
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
    hub.hooks.emit(
        hook_targets(hub, repo), "member", payload, hub.state.next_id, repository_id=repo.id
    )
