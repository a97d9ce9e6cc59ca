"""State of the GitHub-shaped server: accounts, apps, tokens, repositories and what hangs off
them. Plain dataclasses; every mutation happens under `State.lock`."""

from __future__ import annotations

import base64
import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Repository permissions from weakest to strongest, as GitHub names them in requests.
PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")
ROLE_NAMES = {
    "pull": "read",
    "triage": "triage",
    "push": "write",
    "maintain": "maintain",
    "admin": "admin",
}
_ALIASES = {"read": "pull", "write": "push"}
# An organisation's base role ("Member privileges > Base permissions"): what every member may
# do on every organisation repository. GitHub starts new organisations at "read".
BASE_PERMISSIONS = ("none", "read", "write", "admin")
# Repository invitations expire seven days after they are sent (REST "Repository invitations";
# github.blog changelog 2020-02-05 "Self-expiring repository and organization invitations").
INVITATION_TTL = 7 * 24 * 3600.0


def normalize_permission(value: str | None) -> str | None:
    """`read`/`write` are accepted for `pull`/`push`, as GitHub does."""
    if value is None:
        return None
    value = _ALIASES.get(value, value)
    return value if value in PERMISSIONS else None


def level(permission: str | None) -> int:
    """0 for no access, 1 (pull) to 5 (admin)."""
    permission = normalize_permission(permission)
    return PERMISSIONS.index(permission) + 1 if permission else 0


def node_id(kind: str, ident: int) -> str:
    """A GitHub-looking global node id (the legacy `010:Repository123` form, base64)."""
    raw = f"0{len(kind)}:{kind}{ident}".encode()
    return base64.b64encode(raw).decode().rstrip("=")


def iso(ts: float | None) -> str | None:
    """GitHub's timestamp form: ISO 8601, UTC, with Z."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass(eq=False)
class Account:
    """A user, an organisation or an App's bot user."""

    login: str
    id: int
    type: str  # "User", "Organization" or "Bot"
    name: str | None = None
    email: str | None = None
    created_at: float = 0.0
    members: dict[str, str] = field(default_factory=dict)  # org: lower login -> admin|member
    base_permission: str = "read"  # org: the members' base role, one of BASE_PERMISSIONS
    app: App | None = None  # bot: the App it acts for

    @property
    def noreply_email(self) -> str:
        return self.email or f"{self.id}+{self.login}@users.noreply.github.com"


@dataclass(eq=False)
class Team:
    id: int
    org: Account
    name: str
    slug: str
    description: str = ""
    members: set[str] = field(default_factory=set)  # lower logins
    repos: dict[int, str] = field(default_factory=dict)  # repo id -> permission


@dataclass(eq=False)
class App:
    id: int
    slug: str
    name: str
    owner: Account
    private_key_pem: str
    public_key: Any
    permissions: dict[str, str]
    events: list[str]
    bot: Account
    created_at: float


@dataclass(eq=False)
class Installation:
    id: int
    app: App
    account: Account
    repository_selection: str  # "all" or "selected"
    repo_ids: set[int] = field(default_factory=set)  # when selected
    created_at: float = 0.0


@dataclass(eq=False)
class Token:
    """A personal token (installation is None) or an installation token."""

    value: str
    user: Account
    installation: Installation | None = None
    repo_ids: set[int] | None = None  # installation token scoped to these repositories
    permissions: dict[str, str] | None = None
    expires_at: float | None = None


@dataclass(eq=False)
class Invitation:
    id: int
    repo: Repo
    invitee: Account
    inviter: Account
    permission: str
    created_at: float

    def expired(self, now: float) -> bool:
        """Past its seven days: still listed (with `expired: true`), no longer acceptable."""
        return now >= self.created_at + INVITATION_TTL


@dataclass
class Edit:
    """One edit of an issue comment: who, when, and the body before and after."""

    editor: str
    at: float
    before: str
    after: str


@dataclass(eq=False)
class Comment:
    id: int
    repo: Repo
    number: int
    user: Account
    body: str
    created_at: float
    updated_at: float
    history: list[Edit] = field(default_factory=list)


@dataclass(eq=False)
class PullRequest:
    id: int
    number: int
    repo: Repo
    title: str
    body: str | None
    user: Account
    head_ref: str
    base_ref: str
    created_at: float
    updated_at: float
    state: str = "open"


@dataclass(eq=False)
class CheckRun:
    id: int
    repo: Repo
    head_sha: str
    name: str
    app: App
    status: str
    conclusion: str | None
    started_at: float | None
    completed_at: float | None
    output: dict[str, Any]
    external_id: str
    details_url: str | None
    suite_id: int


@dataclass(eq=False)
class Status:
    id: int
    repo: Repo
    sha: str
    state: str
    target_url: str | None
    description: str | None
    context: str
    creator: Account
    created_at: float


@dataclass(eq=False)
class Event:
    id: int
    type: str
    actor: Account
    repo: Repo
    payload: dict[str, Any]
    created_at: float


@dataclass(eq=False)
class Activity:
    """One entry of the repository activity API: a branch changed, recorded when it did."""

    id: int
    before: str
    after: str
    ref: str
    timestamp: float
    activity_type: str  # push, force_push, branch_creation, branch_deletion, pr_merge
    actor: Account | None


@dataclass(eq=False)
class Repo:
    id: int
    owner: Account
    name: str
    path: Path
    private: bool
    created_at: float
    is_template: bool = False
    description: str | None = None
    default_branch: str = "main"
    template: Repo | None = None
    pushed_at: float | None = None
    updated_at: float = 0.0
    collaborators: dict[str, str] = field(default_factory=dict)  # lower login -> permission
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    next_number: int = 1
    events: list[Event] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)  # oldest first
    refs: dict[str, str] = field(default_factory=dict)  # last refs seen, to detect pushes
    workflows: dict[str, int] = field(default_factory=dict)  # file name -> workflow id
    # Template generation finishes at this server time; until then the repository answers
    # as an empty one (see repos.generate).
    ready_at: float = 0.0
    git_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"


class State:
    """Everything the server knows. Look-ups by login and repository name ignore case, as
    GitHub's do."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.RLock()
        self._ids = itertools.count(1001)
        self.clock_offset = 0.0
        self.accounts: dict[str, Account] = {}
        self.repos: dict[str, Repo] = {}
        self.repos_by_id: dict[int, Repo] = {}
        self.tokens: dict[str, Token] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.teams: dict[tuple[str, str], Team] = {}
        self.invitations: dict[int, Invitation] = {}
        self.comments: dict[int, Comment] = {}
        self.check_runs: dict[int, CheckRun] = {}
        self.statuses: list[Status] = []
        self.dispatches: list[dict[str, Any]] = []

    def next_id(self) -> int:
        """Ids are unique across every kind of object, so a test that mixes them up fails."""
        return next(self._ids)

    def now(self) -> float:
        """Server time, which a test may move forward (`FakeGitHub.advance_clock`)."""
        return time.time() + self.clock_offset

    def account(self, login: str) -> Account | None:
        return self.accounts.get(login.lower())

    def repo(self, owner: str, name: str) -> Repo | None:
        name = name.removesuffix(".git")
        return self.repos.get(f"{owner}/{name}".lower())

    def teams_of(self, org: Account) -> list[Team]:
        return [team for team in self.teams.values() if team.org is org]

    def owned_repos(self, owner: Account) -> list[Repo]:
        return [repo for repo in self.repos_by_id.values() if repo.owner is owner]
