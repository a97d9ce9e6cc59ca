"""Creating repositories: empty, initialised, or generated from a template."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .gitrepo import Person
from .model import Account, Repo
from .routes import ApiError, invalid

if TYPE_CHECKING:
    from .server import FakeGitHub

NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def person(account: Account) -> Person:
    """Who a commit made on this account's behalf is by."""
    return Person(account.name or account.login, account.noreply_email)


def new_repo(
    hub: FakeGitHub,
    owner: Account,
    name: str,
    *,
    private: bool,
    creator: Account | None,
    is_template: bool = False,
    description: str | None = None,
    default_branch: str = "main",
) -> Repo:
    """Register a repository and make its (empty) bare git repository."""
    if not isinstance(name, str) or not NAME.match(name) or name in (".", ".."):
        raise invalid("Repository", "name", code="custom", message="name is invalid")
    if hub.state.repo(owner.login, name) is not None:
        raise invalid(
            "Repository", "name", code="custom", message="name already exists on this account"
        )
    now = hub.state.now()
    repo = Repo(
        id=hub.state.next_id(),
        owner=owner,
        name=name,
        path=hub.state.root / "repos" / owner.login / f"{name}.git",
        private=bool(private),
        created_at=now,
        updated_at=now,
        pushed_at=now,
        is_template=bool(is_template),
        description=description,
        default_branch=default_branch,
    )
    # A member who creates an organisation repository administers it.
    login = creator.login.lower() if creator is not None and creator.type == "User" else None
    if login and owner.type == "Organization" and owner.members.get(login) != "admin":
        repo.collaborators[login] = "admin"
    return repo


def register(hub: FakeGitHub, repo: Repo) -> Repo:
    hub.state.repos[repo.full_name.lower()] = repo
    hub.state.repos_by_id[repo.id] = repo
    repo.refs = hub.git.refs(repo.path)
    return repo


def create(
    hub: FakeGitHub,
    owner: Account,
    name: str,
    *,
    private: bool,
    creator: Account | None,
    is_template: bool = False,
    description: str | None = None,
    auto_init: bool = False,
    files: dict[str, bytes] | None = None,
) -> Repo:
    """A new repository; `auto_init` commits a README.md, `files` commits those files."""
    repo = new_repo(
        hub,
        owner,
        name,
        private=private,
        creator=creator,
        is_template=is_template,
        description=description,
    )
    hub.git.init_bare(repo.path, repo.default_branch)
    author = person(creator or owner)
    content = dict(files or {})
    if auto_init and not content:
        content["README.md"] = f"# {name}\n".encode()
    if content:
        message = "Initial commit" if auto_init and not files else "Add files"
        sha = hub.git.commit_files(
            repo.path,
            parent=None,
            files=content,
            message=message,
            person=author,
            when=hub.state.now(),
        )
        hub.git.update_ref(repo.path, f"refs/heads/{repo.default_branch}", sha, None)
    return register(hub, repo)


def generate(
    hub: FakeGitHub,
    template: Repo,
    owner: Account,
    name: str,
    *,
    private: bool,
    creator: Account,
    include_all_branches: bool,
    description: str | None,
) -> Repo:
    """A repository generated from a template: the template's default branch (every branch
    with `include_all_branches`), each branch one new root commit of the template's tree, as
    GitHub makes it (docs "Creating a repository from a template": the new repository starts
    with no template history).

    GitHub answers the request's 201 before the copy exists; until it does the repository
    answers Git database calls with 409 (REST guide "Using the REST API to interact with your
    Git database": an unavailable repository "is being created"). Here the content is written
    at once but hidden until `ready_at`, `hub.generation_seconds` later on the server clock."""
    if not template.is_template:
        raise ApiError(422, f"{template.full_name} is not a template repository")
    repo = new_repo(
        hub,
        owner,
        name,
        private=private,
        creator=creator,
        description=description,
        default_branch=template.default_branch,
    )
    repo.template = template
    branch = None if include_all_branches else template.default_branch
    if hub.git.refs(template.path):
        hub.git.clone_template(template.path, repo.path, branch)
        hub.git.configure(repo.path, repo.default_branch)
        hub.git.squash_branches(repo.path, person(creator), hub.state.now())
    else:
        hub.git.init_bare(repo.path, repo.default_branch)
    repo.ready_at = hub.state.now() + hub.generation_seconds
    return register(hub, repo)


def is_empty(hub: FakeGitHub, repo: Repo) -> bool:
    """No commits yet, or still being generated from its template."""
    return hub.state.now() < repo.ready_at or not hub.git.refs(repo.path)


def git_empty() -> ApiError:
    """What the Git database endpoints answer for a repository with no commits (REST guide
    "Using the REST API to interact with your Git database"; noflo/noflo-ui#500)."""
    return ApiError(409, "Git Repository is empty.")


def require_commits(hub: FakeGitHub, repo: Repo) -> None:
    if is_empty(hub, repo):
        raise git_empty()
