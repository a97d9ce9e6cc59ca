"""`FakeGitHub`: starts and stops the server, and is the control API tests use to set up
accounts, Apps and repositories, to inject faults and to read what happened."""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import activity, repos, shapes
from .faults import Fault, Faults, RateLimits, RequestRecord, WriteLimits
from .gitrepo import Git
from .model import (
    BASE_PERMISSIONS,
    Account,
    App,
    Edit,
    Installation,
    Invitation,
    Repo,
    State,
    Team,
    Token,
    normalize_permission,
)
from .routes import API_PREFIX, Urls
from .server import Dispatcher, HttpServer
from .webhooks import Delivery, Hook, Webhooks

DEFAULT_APP_PERMISSIONS = {
    "actions": "write",
    "administration": "write",
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "members": "read",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}
# Default `seconds` per fault kind; a "secondary" fault without seconds has no Retry-After.
FAULT_SECONDS = {"slow": 1.0, "stall": 30.0, "rate_limit": 60.0}


@dataclass(frozen=True)
class AppCredentials:
    """What `add_app` hands back: enough for `github.Auth.AppAuth(id, private_key_pem)`."""

    id: int
    slug: str
    private_key_pem: str
    installation_id: int
    bot_login: str


class FakeGitHub:
    """A GitHub-shaped server on 127.0.0.1.

    Use as a context manager, or call `start()` and `stop()`. Point PyGithub at `api_url`
    (`Github(base_url=server.api_url, ...)`); clone from `git_url(owner, name)`.

    `inline_webhooks=True` delivers webhooks before the triggering request is answered;
    otherwise a background thread delivers them and `deliveries_wait()` waits for it.
    A repository generated from a template answers as an empty one for `generation_seconds`
    of server time after its 201 (move the clock with `advance_clock`), and then holds one
    fresh root commit per branch, as GitHub makes it. `template_history` is kept for callers
    that still pass it; "fresh" is the only value.

    Time: every timestamp, lag and limit runs on one server clock (`now()`, `clock()`),
    which `advance_clock(seconds)` moves forward, so a test's hours pass at once.
    - `events_lag_seconds` (default 300): the events API shows an event only this long after
      it happened (GitHub documents 30 s to 6 h), and keeps 300 events of the last 30 days.
    - `hook_timeout` (default 10): a delivery whose receiver takes longer, in real time or in
      server time, is recorded as failed ("timed out"); nothing is retried by itself.
    - `write_limits` (default on): a user's or an installation's REST writes beyond 80 in a
      minute or 500 in an hour answer a secondary rate limit, as `write_limit_status` (403 or
      429) with Retry-After when `write_limit_retry_after`. A test that turns them off says by
      name why it needs to."""

    def __init__(
        self,
        root: Path | str | None = None,
        *,
        inline_webhooks: bool = False,
        generation_seconds: float = 3.0,
        template_history: str = "fresh",
        events_lag_seconds: float = 300.0,
        hook_timeout: float = 10.0,
        write_limits: bool = True,
        write_limit_status: int = 403,
        write_limit_retry_after: bool = False,
    ) -> None:
        if template_history != "fresh":
            raise ValueError("generated repositories always get fresh history")
        if generation_seconds < 0:
            raise ValueError("generation_seconds is not negative")
        self._own_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="fakegithub-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.state = State(self.root)
        self.git = Git(self.root / "home")
        self.hooks = Webhooks(
            inline=inline_webhooks,
            timeout=hook_timeout,
            clock=self.state.now,
            new_id=self.state.next_id,
        )
        self.faults = Faults()
        self.rate_limits = RateLimits(self.state.now)
        self.write_limits = WriteLimits(
            self.state.now,
            enabled=write_limits,
            status=write_limit_status,
            retry_after=write_limit_retry_after,
        )
        if events_lag_seconds < 0:
            raise ValueError("events_lag_seconds is not negative")
        self.events_lag_seconds = float(events_lag_seconds)
        self.generation_seconds = float(generation_seconds)
        self.requests: list[RequestRecord] = []
        self.errors: list[str] = []  # tracebacks of server bugs (answered 500)
        self.git_errors: list[str] = []  # stderr of failed git http-backend runs
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.urls = Urls("http://127.0.0.1:0")

    # ----- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        self._server = HttpServer(Dispatcher(self))
        self.urls = Urls(f"http://127.0.0.1:{self._server.server_address[1]}")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fakegithub-http",
        )
        self._thread.start()
        self.hooks.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None
        self.hooks.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----- addresses -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.urls.base

    @property
    def api_url(self) -> str:
        """The REST API root, GitHub Enterprise style: http://127.0.0.1:PORT/api/v3."""
        return self.urls.base + API_PREFIX

    @property
    def port(self) -> int:
        return int(self.urls.base.rsplit(":", 1)[1])

    def git_url(self, owner: str, name: str) -> str:
        return f"{self.urls.git}/{owner}/{name}.git"

    def clone_url(self, owner: str, name: str, token: str) -> str:
        """The git URL with a token as password (the form Actions uses)."""
        return self.git_url(owner, name).replace("http://", f"http://x-access-token:{token}@")

    def file_url(self, owner: str, name: str) -> str:
        """A file:// URL of the bare repository. Pushes through it bypass the server: call
        `notice_push` afterwards to record them."""
        return self._repo(owner, name).path.resolve().as_uri()

    # ----- identities ------------------------------------------------------------------

    def add_user(self, login: str, *, name: str | None = None, email: str | None = None) -> str:
        """Create a user; returns a personal access token for them."""
        with self.state.lock:
            self._new_account(login, "User", name=name, email=email)
        return self.new_token(login)

    def new_token(self, login: str) -> str:
        """Another personal access token for an existing user."""
        with self.state.lock:
            account = self._account(login)
            value = "ghp_" + secrets.token_hex(18)
            self.state.tokens[value] = Token(value, account)
        return value

    def add_org(
        self,
        login: str,
        *,
        name: str | None = None,
        owners: tuple[str, ...] = (),
        members: tuple[str, ...] = (),
        base_permission: str = "read",
    ) -> None:
        """Create an organisation; `owners` are its admins. `base_permission` is the members'
        base role on every organisation repository: "none", "read" (GitHub's default for a
        new organisation), "write" or "admin"."""
        if base_permission not in BASE_PERMISSIONS:
            raise ValueError(f"base_permission is one of {BASE_PERMISSIONS}")
        with self.state.lock:
            org = self._new_account(login, "Organization", name=name)
            org.base_permission = base_permission
            for member in members:
                org.members[self._account(member).login.lower()] = "member"
            for owner in owners:
                org.members[self._account(owner).login.lower()] = "admin"

    def set_base_permission(self, org: str, permission: str) -> None:
        """Change an organisation's base role for members ("none", "read", "write", "admin"),
        as its owner does in the organisation's settings."""
        if permission not in BASE_PERMISSIONS:
            raise ValueError(f"permission is one of {BASE_PERMISSIONS}")
        with self.state.lock:
            self._account(org).base_permission = permission

    def add_org_member(self, org: str, login: str, role: str = "member") -> None:
        if role not in ("member", "admin"):
            raise ValueError("role is 'member' or 'admin'")
        with self.state.lock:
            self._account(org).members[self._account(login).login.lower()] = role

    def add_team(
        self,
        org: str,
        name: str,
        *,
        members: tuple[str, ...] | list[str] = (),
        slug: str | None = None,
    ) -> str:
        """Create a team in `org` (members join the org too); returns its slug."""
        slug = slug or "-".join(name.lower().split())
        with self.state.lock:
            owner = self._account(org)
            team = Team(self.state.next_id(), owner, name, slug)
            for member in members:
                login = self._account(member).login.lower()
                team.members.add(login)
                owner.members.setdefault(login, "member")
            self.state.teams[(owner.login.lower(), slug)] = team
        return slug

    def add_app(
        self,
        slug: str,
        owner: str,
        *,
        name: str | None = None,
        permissions: dict[str, str] | None = None,
        events: list[str] | None = None,
        install_on: str | None = None,
        repositories: list[str] | None = None,
    ) -> AppCredentials:
        """Register a GitHub App owned by `owner` with a fresh RSA key, installed on
        `install_on` (default: the owner) for all its repositories, or only `repositories`."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        with self.state.lock:
            account = self._account(owner)
            target = self._account(install_on or owner)
            now = self.state.now()
            bot = self._new_account(f"{slug}[bot]", "Bot")
            app = App(
                self.state.next_id(),
                slug,
                name or slug,
                account,
                pem,
                key.public_key(),
                dict(permissions or DEFAULT_APP_PERMISSIONS),
                list(events or ["push", "member"]),
                bot,
                now,
            )
            bot.app = app
            self.state.apps[app.id] = app
            selection = "selected" if repositories is not None else "all"
            ids = {self._repo(target.login, r).id for r in repositories or []}
            inst = Installation(self.state.next_id(), app, target, selection, ids, now)
            self.state.installations[inst.id] = inst
        return AppCredentials(app.id, slug, pem, inst.id, bot.login)

    def installation_token(
        self,
        installation_id: int,
        *,
        repositories: list[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> str:
        """Mint an installation token directly (what the access_tokens endpoint does)."""
        with self.state.lock:
            inst = self.state.installations[installation_id]
            ids = None
            if repositories is not None:
                ids = {self._repo(inst.account.login, r).id for r in repositories}
            value = "ghs_" + secrets.token_hex(18)
            self.state.tokens[value] = Token(
                value,
                inst.app.bot,
                inst,
                ids,
                dict(permissions or inst.app.permissions),
                self.state.now() + 3600,  # an hour of server time
            )
        return value

    # ----- repositories ----------------------------------------------------------------

    def create_repo(
        self,
        owner: str,
        name: str,
        *,
        private: bool = True,
        is_template: bool = False,
        files: dict[str, str | bytes] | None = None,
        description: str | None = None,
    ) -> int:
        """A repository made directly (no API call, no event); `files` are committed to
        main in one commit. Returns its id."""
        content = {p: d.encode() if isinstance(d, str) else d for p, d in (files or {}).items()}
        with self.state.lock:
            repo = repos.create(
                self,
                self._account(owner),
                name,
                private=private,
                creator=None,
                is_template=is_template,
                description=description,
                files=content,
            )
        return repo.id

    def add_collaborator(self, owner: str, name: str, login: str, permission: str = "push") -> None:
        """Make `login` a collaborator at once, with no invitation and no event."""
        perm = normalize_permission(permission)
        if perm is None:
            raise ValueError(f"unknown permission {permission!r}")
        with self.state.lock:
            self._repo(owner, name).collaborators[self._account(login).login.lower()] = perm

    def repo_ready(self, owner: str, name: str) -> bool:
        """Whether template generation of the repository has finished (on the server clock);
        True for every repository not generated from a template."""
        with self.state.lock:
            return self.state.now() >= self._repo(owner, name).ready_at

    def invitations(self, owner: str, name: str) -> list[dict[str, Any]]:
        """The repository's invitations, oldest first: id, invitee, permission, created_at,
        expired (on the server clock)."""
        with self.state.lock:
            repo, now = self._repo(owner, name), self.state.now()
            found = [i for i in self.state.invitations.values() if i.repo is repo]
            return [
                {
                    "id": inv.id,
                    "invitee": inv.invitee.login,
                    "permission": inv.permission,
                    "created_at": inv.created_at,
                    "expired": inv.expired(now),
                }
                for inv in sorted(found, key=lambda i: i.id)
            ]

    def invite(self, owner: str, name: str, login: str, permission: str = "push") -> int:
        """An invitation made directly (as the repository owner), as if sent now on the server
        clock; returns its id. Move the clock past seven days to expire it."""
        perm = normalize_permission(permission)
        if perm is None:
            raise ValueError(f"unknown permission {permission!r}")
        with self.state.lock:
            repo = self._repo(owner, name)
            inv = Invitation(
                self.state.next_id(),
                repo,
                self._account(login),
                repo.owner,
                perm,
                self.state.now(),
            )
            self.state.invitations[inv.id] = inv
        return inv.id

    def notice_push(
        self, owner: str, name: str, pusher: str, *, activity_type: str | None = None
    ) -> list[str]:
        """Record branch changes made behind the server's back (a push to `file_url`), as
        pushes by `pusher`: events, repository activities, `pushed_at` and webhooks. Returns
        the changed branches. `activity_type` overrides the activity's type (e.g. "pr_merge"
        for a pull request merged on GitHub); by default it follows from the refs."""
        with self.state.lock:
            changed = activity.sync_refs(
                self, self._repo(owner, name), self._account(pusher), activity_type
            )
        self.hooks.flush()
        return changed

    def refs(self, owner: str, name: str) -> dict[str, str]:
        return self.git.refs(self._repo(owner, name).path)

    def repo_path(self, owner: str, name: str) -> Path:
        return self._repo(owner, name).path

    # ----- what happened ---------------------------------------------------------------

    def events(self, owner: str, name: str) -> list[dict[str, Any]]:
        """Every event of the repository, newest first, as the events API renders them, but
        at once and unbounded (the API itself lags and keeps 300 events of 30 days)."""
        with self.state.lock:
            repo = self._repo(owner, name)
            return [shapes.event(self.urls, e) for e in reversed(repo.events)]

    def comment_history(self, owner: str, name: str, comment_id: int) -> list[Edit]:
        with self.state.lock:
            comment = self.state.comments[comment_id]
            if comment.repo is not self._repo(owner, name):
                raise KeyError(comment_id)
            return list(comment.history)

    def comment_editors(self, owner: str, name: str, comment_id: int) -> list[str]:
        """The login behind each edit of the comment, oldest first."""
        return [edit.editor for edit in self.comment_history(owner, name, comment_id)]

    @property
    def dispatches(self) -> list[dict[str, Any]]:
        """Workflow dispatches: repo, workflow, workflow_id, ref, inputs, time, actor."""
        return self.state.dispatches

    def requests_matching(self, method: str | None = None, path: str = "") -> list[RequestRecord]:
        """Logged requests with this method whose path contains `path` (a regex)."""
        pattern = re.compile(path)
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method) and pattern.search(r.path)
        ]

    # ----- webhooks --------------------------------------------------------------------

    def add_webhook(
        self,
        target: str,
        url: str,
        secret: str | None = None,
        events: tuple[str, ...] | list[str] = ("push", "member"),
    ) -> int:
        """A webhook on an organisation ("acme") or a repository ("acme/x") posting to a
        127.0.0.1 URL; `events` may include "*". Returns the hook id."""
        with self.state.lock:
            if "/" in target:
                owner, name = target.split("/", 1)
                hook_target, kind = self._repo(owner, name), "repository"
                key, ident = hook_target.full_name.lower(), hook_target.id
            else:
                account = self._account(target)
                key, ident, kind = account.login.lower(), account.id, "organization"
            hook = Hook(self.state.next_id(), key, url, secret, tuple(events), ident, kind)
        return self.hooks.add(hook).id

    def set_app_webhook(
        self,
        app_id: int,
        url: str,
        secret: str | None = None,
        events: tuple[str, ...] | list[str] = ("push", "member"),
    ) -> int:
        """The GitHub App's own webhook (one per App; a second call replaces it): it hears
        `events` of every repository an installation of the App reaches, its deliveries carry
        `installation`, and `GET /app/hook/deliveries` lists them. Returns the hook id."""
        with self.state.lock:
            app = self.state.apps[app_id]
            app.events = list(events)
            hook = Hook(
                self.state.next_id(),
                f"app:{app.id}",
                url,
                secret,
                tuple(events),
                app.id,
                "integration",
            )
        return self.hooks.replace(hook).id

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery attempt, oldest first; a redelivery is its own record."""
        return self.hooks.deliveries

    def deliveries_wait(self, timeout: float = 10.0) -> None:
        """Wait until every webhook delivery so far has been attempted."""
        if not self.hooks.wait(timeout):
            raise TimeoutError(f"webhook deliveries still pending after {timeout}s")

    def redeliver(self, delivery_id: int | str, *, wait: bool = True) -> Delivery:
        """Send a delivery again with the same X-GitHub-Delivery id and body (by id, or the
        first delivery of a guid). Returns the new record (`redelivery` true)."""
        delivery = self.hooks.redeliver(delivery_id)
        if wait:
            self.deliveries_wait()
        return delivery

    # ----- faults and time -------------------------------------------------------------

    def inject(
        self,
        *,
        kind: str,
        path: str = "",
        method: str | None = None,
        times: int = 1,
        seconds: float | None = None,
        status: int = 403,
    ) -> Fault:
        """Fail the next `times` requests whose method is `method` (any when None) and whose
        path matches the regex `path`. Kinds:
        - "500", "502": a server error;
        - "rate_limit": a primary limit, `status` 403 or 429, x-ratelimit-remaining 0 and
          x-ratelimit-reset `seconds` (default 60) ahead on the server clock;
        - "secondary": a secondary limit, `status` 403 or 429, with `Retry-After: seconds`,
          or no Retry-After when `seconds` is None (the default);
        - "slow": sleep `seconds` (default 1) for real, then answer;
        - "stall": move the server clock `seconds` (default 30) forward, then answer, so the
          request is slow in server time without the test waiting;
        - "drop": close the connection, no response."""
        fault = Fault(
            kind,
            method.upper() if method else None,
            re.compile(path),
            times,
            FAULT_SECONDS.get(kind) if seconds is None else seconds,
            status,
        )
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def now(self) -> float:
        """Server time in epoch seconds: the wall clock plus every `advance_clock` so far."""
        return self.state.now()

    def clock(self) -> datetime:
        """Server time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.state.now(), UTC)

    def advance_clock(self, seconds: float) -> None:
        """Move server time (timestamps of events, pushes, comments) forward."""
        with self.state.lock:
            self.state.clock_offset += seconds

    # ----- helpers ---------------------------------------------------------------------

    def _new_account(
        self, login: str, kind: str, *, name: str | None = None, email: str | None = None
    ) -> Account:
        if self.state.account(login) is not None:
            raise ValueError(f"{login} already exists")
        account = Account(login, self.state.next_id(), kind, name, email, self.state.now())
        self.state.accounts[login.lower()] = account
        return account

    def _account(self, login: str) -> Account:
        account = self.state.account(login)
        if account is None:
            raise KeyError(f"no account {login}")
        return account

    def _repo(self, owner: str, name: str) -> Repo:
        repo = self.state.repo(owner, name)
        if repo is None:
            raise KeyError(f"no repository {owner}/{name}")
        return repo
