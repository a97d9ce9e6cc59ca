"""The one gateway to GitHub: every call this project makes to GitHub goes through here.

It authenticates as a GitHub App (app id and private key: a JWT for the App's own endpoints,
installation tokens for the rest, optionally scoped to one repository with chosen
permissions) or with a plain token, and takes the API's base URL, so GitHub Enterprise Server
works too. PyGithub carries the HTTP and the authentication; every REST call is made here
directly through its requester (`Gateway._request`), so that each status GitHub answers is
seen: several PyGithub helpers read a failure as `False` (github-facts.md #4). Each method's
docstring names its endpoint and its page in GitHub's REST documentation.

Errors: no method swallows one. `Gateway._call` runs an operation and maps PyGithub's
exceptions to the project's own (`mle_assess.errors.GitHub*`, 409 being GitHubConflict).

Retries ("Rate limits for the REST API" and "Best practices for using the REST API", under
https://docs.github.com/rest/using-the-rest-api): a 5xx, a dropped
connection or a timeout is retried with backoff. A limit may come as 403 or as 429: with
`Retry-After`, that many seconds are waited; with `x-ratelimit-remaining: 0` (the primary
limit), until `x-ratelimit-reset`; a secondary limit without either, 60 seconds, doubled at
each further one. A wait longer than `RetryPolicy.max_wait` is not attempted: the call fails
with GitHubUnavailable, and callers keep the work for later.

Pacing: GitHub's secondary limits allow about 80 content-creating requests a minute and 500 an
hour. Every POST, PATCH, PUT and DELETE the gateway sends waits for a slot under both (and
`between_writes` after the previous one), in a pacer shared by a gateway and every gateway
`for_installation` makes from it. `pacing_estimate` says how long a batch of writes will take.

Time: every wait goes through the injected `sleep` and every time computation through the
injected `clock`, never the process's own clock, so tests run on the test server's clock.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, GithubIntegration

from mle_assess.errors import (
    GitHubConflict,
    GitHubError,
    GitHubForbidden,
    GitHubInvalid,
    GitHubNotFound,
    GitHubUnavailable,
    MleAssessError,
)

T = TypeVar("T")
DEFAULT_API = "https://api.github.com"
# An installation token is renewed this long before it expires (GitHub gives it an hour).
RENEW_BEFORE = timedelta(minutes=5)
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# A secondary limit without Retry-After: wait at least a minute, then longer each time
# ("Rate limits for the REST API", "Exceeding the rate limit").
SECONDARY_WAIT = 60.0
DOCS = "https://docs.github.com/rest"


def web_url(env: Mapping[str, str] | None = None) -> str:
    """GitHub's web address for links: MLE_ASSESS_GITHUB_WEB, else derived from
    MLE_ASSESS_GITHUB_API (api.github.com is github.com, api.NAME.ghe.com is NAME.ghe.com, and
    GitHub Enterprise Server serves its API under /api/v3 of the web host)."""
    env = os.environ if env is None else env
    if env.get("MLE_ASSESS_GITHUB_WEB"):
        return env["MLE_ASSESS_GITHUB_WEB"].rstrip("/")
    api = (env.get("MLE_ASSESS_GITHUB_API") or DEFAULT_API).rstrip("/")
    if api.endswith("/api/v3"):  # GitHub Enterprise Server
        return api.removesuffix("/api/v3")
    scheme, _, rest = api.partition("://")
    # api.github.com is github.com; GitHub Enterprise Cloud's api.NAME.ghe.com is NAME.ghe.com.
    return f"{scheme}://{rest.removeprefix('api.')}"


@dataclass(frozen=True)
class Credentials:
    """How to reach GitHub: the API URL, and a GitHub App or a plain token."""

    api_url: str = DEFAULT_API
    app_id: int | None = None
    private_key: str | None = None
    token: str | None = None

    @property
    def is_app(self) -> bool:
        return self.app_id is not None and bool(self.private_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials:
        """From MLE_ASSESS_GITHUB_API, MLE_ASSESS_APP_ID with MLE_ASSESS_APP_PRIVATE_KEY (or
        MLE_ASSESS_APP_PRIVATE_KEY_FILE), or MLE_ASSESS_GITHUB_TOKEN."""
        env = os.environ if env is None else env
        key = env.get("MLE_ASSESS_APP_PRIVATE_KEY") or None
        if not key and env.get("MLE_ASSESS_APP_PRIVATE_KEY_FILE"):
            key = Path(env["MLE_ASSESS_APP_PRIVATE_KEY_FILE"]).read_text(encoding="utf-8")
        app_id = env.get("MLE_ASSESS_APP_ID") or None
        creds = cls(
            api_url=env.get("MLE_ASSESS_GITHUB_API") or DEFAULT_API,
            app_id=int(app_id) if app_id else None,
            private_key=key,
            token=env.get("MLE_ASSESS_GITHUB_TOKEN") or None,
        )
        if not creds.is_app and not creds.token:
            raise MleAssessError(
                "no GitHub credentials: set MLE_ASSESS_APP_ID and MLE_ASSESS_APP_PRIVATE_KEY "
                "(a GitHub App), or MLE_ASSESS_GITHUB_TOKEN"
            )
        return creds


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try and how fast to go: attempts per operation, backoff between them, the
    longest single wait (a limit's reset further away than that fails the call instead), and
    the pacing of requests and writes."""

    attempts: int = 5
    backoff: float = 1.0
    max_wait: float = 120.0
    timeout: float = 15.0
    # Pauses between requests and between writes, which GitHub asks clients to keep.
    between_requests: float | None = 0.25
    between_writes: float | None = 1.0
    per_page: int = 100  # items per page of a list (GitHub's largest)
    # GitHub's secondary limits on content-creating requests (github-facts.md #12).
    writes_per_minute: int | None = 80
    writes_per_hour: int | None = 500

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetryPolicy:
        """The defaults, except that MLE_ASSESS_GITHUB_PACING=off drops the pauses and the
        write limits (for a GitHub Enterprise Server without secondary rate limits)."""
        env = os.environ if env is None else env
        if env.get("MLE_ASSESS_GITHUB_PACING", "").lower() == "off":
            return cls(
                between_requests=None,
                between_writes=None,
                writes_per_minute=None,
                writes_per_hour=None,
            )
        return cls()


class Pacer:
    """When each request may go: at most `per_minute` writes in any minute and `per_hour` in
    any hour, `between_writes` seconds after the previous write and `between_requests` after
    the previous request. Times are reserved, not observed: a request takes the next free slot
    at once, so a recording `sleep` that does not move the clock still paces correctly, and
    threads sharing a pacer never take the same slot."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.per_minute = policy.writes_per_minute
        self.per_hour = policy.writes_per_hour
        self.between_writes = policy.between_writes
        self.between_requests = policy.between_requests
        self._writes: list[datetime] = []  # reserved write slots, oldest first
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def _slot(self, now: datetime, write: bool, writes: list[datetime], last: datetime | None):
        at = now
        if self.between_requests and last is not None:
            at = max(at, last + timedelta(seconds=self.between_requests))
        if not write:
            return at
        if self.between_writes and writes:
            at = max(at, writes[-1] + timedelta(seconds=self.between_writes))
        for limit, window in ((self.per_minute, 60), (self.per_hour, 3600)):
            # With `limit` writes already in the window ending at `at`, wait until the oldest
            # of them has left it.
            if limit and len(writes) >= limit:
                at = max(at, writes[-limit] + timedelta(seconds=window))
        return at

    def reserve(self, verb: str, now: datetime) -> datetime:
        """The moment a request with this verb may be sent (now or later), kept as taken."""
        write = verb.upper() in WRITES
        with self._lock:
            at = self._slot(now, write, self._writes, self._last)
            self._last = at
            if write:
                self._writes.append(at)
                # An hour back is all either window looks at.
                cutoff = at - timedelta(hours=1)
                while self._writes and self._writes[0] <= cutoff:
                    self._writes.pop(0)
            return at

    def sent(self, verb: str, slot: datetime, now: datetime) -> None:
        """The request of `slot` has been answered at `now`: its time becomes `now`. GitHub
        counted it when it arrived, somewhere between the two, so the windows measured from
        the answer are never shorter than GitHub's."""
        with self._lock:
            if now <= slot:
                return
            if self._last == slot:
                self._last = now
            if verb.upper() in WRITES and slot in self._writes:
                self._writes[self._writes.index(slot)] = now
                self._writes.sort()

    def estimate(self, writes: int, now: datetime) -> timedelta:
        """How long from `now` until `writes` more writes have all been sent."""
        with self._lock:
            taken, last = list(self._writes), self._last
        end = now
        for _ in range(max(writes, 0)):
            end = self._slot(now, True, taken, last)
            taken.append(end)
            last = end
        return end - now


@dataclass
class Gateway:
    """A connection to GitHub as one identity. `for_installation` narrows an App to one
    installation (optionally one repository and chosen permissions).

    `sleep(seconds)` and `clock() -> datetime` (UTC) are injected: every wait and every time
    computation uses them."""

    creds: Credentials
    policy: RetryPolicy = field(default_factory=RetryPolicy.from_env)
    sleep: Callable[[float], None] = time.sleep
    _token: str | None = None
    _github: Github | None = None
    _expires_at: datetime | None = None
    _renew: Callable[[], tuple[str, datetime | None]] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _installation: dict[str, int] = field(default_factory=dict)
    _pacer: Pacer | None = None
    _login: str | None = None
    _app_client: GithubIntegration | None = None

    def __post_init__(self) -> None:
        if self._pacer is None:
            self._pacer = Pacer(self.policy)

    # --- identity and tokens -----------------------------------------------------------------

    @property
    def is_app(self) -> bool:
        return self.creds.is_app

    def _app_requester(self) -> Any:
        """The requester that signs each request with a fresh JWT of the App (for `/app/...`)."""
        if not self.is_app:
            raise GitHubForbidden("this needs GitHub App credentials (a JWT)")
        if self._app_client is None:
            self._app_client = GithubIntegration(
                auth=Auth.AppAuth(self.creds.app_id, self.creds.private_key),
                base_url=self.creds.api_url,
                timeout=int(self.policy.timeout),
                retry=None,
                seconds_between_requests=None,  # paced here, on `clock` and `sleep`
                seconds_between_writes=None,
            )
        return self._app_client.requester

    def installation_id(self, owner: str) -> int:
        """`GET /orgs/{org}/installation`, else `GET /users/{username}/installation` (JWT):
        the App's installation on `owner`. ("Get an organization installation for the
        authenticated app", https://docs.github.com/rest/apps/apps)"""
        if owner not in self._installation:
            quoted = _q(owner)

            def find() -> int:
                try:
                    _, _, data = self._request("GET", f"/orgs/{quoted}/installation", app=True)
                except GithubException as exc:
                    if exc.status != 404:
                        raise
                    _, _, data = self._request("GET", f"/users/{quoted}/installation", app=True)
                return int(data["id"])

            self._installation[owner] = self._call(find, f"the App's installation on {owner}")
        return self._installation[owner]

    def installation_token(
        self,
        owner: str,
        *,
        repositories: list[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> str:
        """`POST /app/installations/{installation_id}/access_tokens` (JWT): a token for the App's
        installation on `owner`, optionally limited to some repositories and permissions.
        ("Create an installation access token for an app",
        https://docs.github.com/rest/apps/apps)"""
        return self.installation_token_with_expiry(
            owner, repositories=repositories, permissions=permissions
        )[0]

    def installation_token_with_expiry(
        self,
        owner: str,
        *,
        repositories: list[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> tuple[str, datetime | None]:
        """`POST /app/installations/{installation_id}/access_tokens` (JWT), with the moment
        the token expires (None if GitHub does not say). ("Create an installation access token
        for an app", https://docs.github.com/rest/apps/apps)"""
        if not self.is_app:
            raise GitHubForbidden("installation tokens need GitHub App credentials")
        installation = self.installation_id(owner)
        body: dict[str, Any] = {}
        if repositories:
            body["repositories"] = repositories
        if permissions:
            body["permissions"] = permissions

        def mint() -> tuple[str, datetime | None]:
            _, _, data = self._request(
                "POST", f"/app/installations/{installation}/access_tokens", body=body, app=True
            )
            return str(data["token"]), _time(data.get("expires_at"))

        return self._call(mint, f"an installation token for {owner}")

    def for_installation(
        self,
        owner: str,
        *,
        repositories: list[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> Gateway:
        """A gateway acting as the App's installation on `owner` (the bot user), minting its
        token with `POST /app/installations/{installation_id}/access_tokens`. Installation
        tokens last an hour: a new one is minted shortly before this one expires, so a
        long-running service (the board) keeps working. The new gateway shares this one's
        pacer (writes by all of them count together), clock and sleep."""

        def renew() -> tuple[str, datetime | None]:
            return self.installation_token_with_expiry(
                owner, repositories=repositories, permissions=permissions
            )

        token, expires = renew()
        return Gateway(
            self.creds,
            self.policy,
            self.sleep,
            _token=token,
            _expires_at=expires,
            _renew=renew,
            clock=self.clock,
            _pacer=self._pacer,
            _login=self._login,
            _app_client=self._app_client,
        )

    def _fresh(self) -> None:
        """Mint a new installation token when this one is within RENEW_BEFORE of expiring."""
        if self._renew is None or self._expires_at is None:
            return
        if self.clock() >= self._expires_at - RENEW_BEFORE:
            self._token, self._expires_at = self._renew()
            self._github = None

    def _client(self) -> Github:
        """The PyGithub client for this gateway's token (its retries and pacing off: `_call`
        and the pacer do them)."""
        self._fresh()
        if self._github is None:
            token = self._token or self.creds.token
            if token is None:
                raise GitHubForbidden(
                    "a GitHub App acts through an installation: use for_installation(owner)"
                )
            self._github = Github(
                auth=Auth.Token(token),
                base_url=self.creds.api_url,
                timeout=int(self.policy.timeout),
                retry=None,
                per_page=self.policy.per_page,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
        return self._github

    @property
    def token(self) -> str:
        self._fresh()
        token = self._token or self.creds.token
        if token is None:
            raise GitHubForbidden("no token: use for_installation(owner) with an App")
        return token

    def login(self) -> str:
        """Who this gateway acts as, asked once and then kept. For an App, `GET /app` (JWT) gives
        its slug, and the bot that writes for every installation is `SLUG[bot]`; slugs differ
        between Apps, so it is never assumed ("Get the authenticated app",
        https://docs.github.com/rest/apps/apps). For a plain token, `GET /user` ("Get the
        authenticated user", https://docs.github.com/rest/users/users)."""
        if self._login is None:
            if self.is_app:

                def bot() -> str:
                    _, _, data = self._request("GET", "/app", app=True)
                    return f"{data['slug']}[bot]"

                self._login = self._call(bot, "the App's bot login")
            else:
                self._login = self._call(
                    lambda: self._request("GET", "/user")[2]["login"], "the token's user"
                )
        return self._login

    def bot_login(self) -> str:
        """The same as `login()`: the login our pushes, comments and check runs carry."""
        return self.login()

    def app_id(self) -> int | None:
        return self.creds.app_id if self.is_app else None

    # --- requests, the retry loop and pacing -------------------------------------------------

    def _request(
        self,
        verb: str,
        url: str,
        *,
        parameters: dict[str, Any] | None = None,
        body: Any = None,
        app: bool = False,
    ) -> tuple[int, dict[str, str], Any]:
        """Send one request (paced), and return (status, lower-cased headers, JSON body). Any
        status of 400 or more raises PyGithub's exception, for `_call` to retry or map."""
        requester = self._app_requester() if app else self._client().requester
        slot = self._pace(verb)
        try:
            status, headers, text = requester.requestJson(
                verb, url, parameters=parameters, input=body
            )
        finally:
            assert self._pacer is not None
            self._pacer.sent(verb, slot, self.clock())
        data = _json(text)
        if status >= 400:
            detail = data if isinstance(data, dict) else {"message": str(data or "")}
            raise requester.createException(status, headers, detail)
        return status, {k.lower(): v for k, v in headers.items()}, data

    def _pace(self, verb: str) -> datetime:
        """Wait for this request's slot (see `Pacer`), and return it."""
        assert self._pacer is not None
        now = self.clock()
        slot = self._pacer.reserve(verb, now)
        wait = (slot - now).total_seconds()
        if wait > 0:
            self.sleep(wait)
        return slot

    def pacing_estimate(self, writes: int) -> timedelta:
        """How long `writes` more writes take from now at the pacing limits (80 a minute, 500
        an hour, and the pause between writes), counting the writes already sent in the last
        hour. Zero when pacing is off."""
        assert self._pacer is not None
        return self._pacer.estimate(writes, self.clock())

    def _call(self, operation: Callable[[], T], what: str, *, creates: bool = False) -> T:
        """Run `operation`, retrying it whole on the failures GitHub asks clients to retry.

        An operation that `creates` something is retried only when GitHub surely did not act
        (a rate limit): after a timeout, a dropped connection or a 5xx it may have, so the
        caller looks for what was made before trying again (see `post`)."""
        unannounced = 0  # secondary limits without Retry-After so far: each waits twice as long
        for attempt in range(1, self.policy.attempts + 1):
            status: int | None = None
            try:
                return operation()
            except GithubException as exc:
                status = exc.status
                wait = self._wait_for(exc, attempt, unannounced)
                if _unannounced_limit(exc):
                    unannounced += 1
                ambiguous = exc.status is not None and exc.status >= 500
                if wait is None or attempt == self.policy.attempts or (creates and ambiguous):
                    raise _mapped(exc, what) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                wait = self._backoff(attempt)
                if attempt == self.policy.attempts or creates:
                    raise GitHubUnavailable(f"{what}: no answer from GitHub ({exc})") from exc
            if wait > self.policy.max_wait:
                raise GitHubUnavailable(
                    f"{what}: GitHub asks to wait {wait:.0f} s, "
                    f"more than the {self.policy.max_wait:.0f} s allowed",
                    status,
                )
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        return self.policy.backoff * 2 ** (attempt - 1)

    def _wait_for(self, exc: GithubException, attempt: int, unannounced: int) -> float | None:
        """Seconds to wait before retrying, or None when the failure is not worth a retry.

        The order is GitHub's ("Rate limits for the REST API", "Exceeding the rate limit"):
        Retry-After first, then a primary limit's reset, then a minute, doubling."""
        headers = _headers(exc)
        status = exc.status
        if status in (403, 429):
            if headers.get("retry-after"):
                try:
                    return max(0.0, float(headers["retry-after"]))
                except ValueError:
                    return SECONDARY_WAIT * 2**unannounced
            if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
                try:
                    reset = float(headers["x-ratelimit-reset"])
                except ValueError:
                    return SECONDARY_WAIT * 2**unannounced
                # Measured on our clock, with a second for GitHub's rounding of the reset.
                return max(0.0, reset - self.clock().timestamp()) + 1.0
            if _unannounced_limit(exc):
                return SECONDARY_WAIT * 2**unannounced
            return None  # a plain 403: not allowed, and retrying will not change that
        if status is not None and status >= 500:
            return self._backoff(attempt)
        return None

    def _pages(
        self,
        url: str,
        what: str,
        *,
        parameters: dict[str, Any] | None = None,
        key: str | None = None,
        app: bool = False,
        stop: Callable[[list], bool] | None = None,
    ) -> list:
        """Every item of a list, following the Link header's `next` (page numbers or cursors
        alike, "Using pagination in the REST API",
        https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api); each
        page is retried on its own. `key` names the list inside a wrapping object; `stop(page)`
        ends the walk early."""
        items: list = []
        params: dict[str, Any] | None = {"per_page": self.policy.per_page, **(parameters or {})}
        next_url: str | None = url
        while next_url is not None:

            def page(u: str = next_url, p: dict[str, Any] | None = params) -> tuple[dict, Any]:
                _, headers, data = self._request("GET", u, parameters=p, app=app)
                return headers, data

            headers, data = self._call(page, what)
            batch = (data or {}).get(key, []) if key else (data or [])
            items += batch
            if stop is not None and stop(batch):
                break
            next_url, params = _next_link(headers.get("link")), None  # the link keeps the query
        return items

    # --- repositories ------------------------------------------------------------------------

    def repo(self, full_name: str) -> dict:
        """`GET /repos/{owner}/{repo}` ("Get a repository",
        https://docs.github.com/rest/repos/repos)."""
        data = self._call(
            lambda: self._request("GET", f"/repos/{_r(full_name)}")[2], f"repository {full_name}"
        )
        return _repo_dict(data)

    def create_org_repo(self, org: str, name: str, *, private: bool, is_template: bool) -> dict:
        """`POST /orgs/{org}/repos` ("Create an organization repository",
        https://docs.github.com/rest/repos/repos). No README is made: the repository starts empty
        (Git calls answer 409 until a push)."""
        body = {"name": name, "private": private, "is_template": is_template, "auto_init": False}
        data = self._call(
            lambda: self._request("POST", f"/orgs/{_q(org)}/repos", body=body)[2],
            f"creating {org}/{name}",
        )
        return _repo_dict(data)

    def generate_repo(self, template: str, owner: str, name: str, *, private: bool) -> dict:
        """`POST /repos/{template_owner}/{template_repo}/generate` ("Create a repository using a
        template", https://docs.github.com/rest/repos/repos). GitHub makes the new repository
        public unless `private` is sent as true, so it always is sent. GitHub answers 201 before
        the copy is made: until it is, Git calls on the new repository answer 409 (see
        `branch_sha`)."""
        body = {"owner": owner, "name": name, "private": private}
        data = self._call(
            lambda: self._request("POST", f"/repos/{_r(template)}/generate", body=body)[2],
            f"generating {owner}/{name} from {template}",
        )
        return _repo_dict(data)

    def org_repos(self, org: str) -> list[dict]:
        """`GET /orgs/{org}/repos`, every page ("List organization repositories",
        https://docs.github.com/rest/repos/repos)."""
        return [_repo_dict(r) for r in self._pages(f"/orgs/{_q(org)}/repos", f"{org}'s repos")]

    def installation_repos(self) -> list[dict]:
        """`GET /installation/repositories`, every page ("List repositories accessible to the app
        installation", https://docs.github.com/rest/apps/installations): what this installation
        can reach, as GitHub renders them."""
        return self._pages(
            "/installation/repositories", "the installation's repositories", key="repositories"
        )

    # --- people ------------------------------------------------------------------------------

    def invite(self, repo: str, login: str, permission: str = "push") -> bool:
        """`PUT /repos/{owner}/{repo}/collaborators/{username}` ("Add a repository collaborator",
        https://docs.github.com/rest/collaborators/collaborators): True when GitHub made an
        invitation (201), False when `login` already was a collaborator (204)."""
        return self.set_collaborator_permission(repo, login, permission) is not None

    def set_collaborator_permission(self, repo: str, login: str, permission: str) -> int | None:
        """`PUT /repos/{owner}/{repo}/collaborators/{username}` with `{"permission": ...}`
        ("pull", "triage", "push", "maintain", "admin"; "Add a repository collaborator",
        https://docs.github.com/rest/collaborators/collaborators). None when GitHub answered 204
        (an existing collaborator's permission was changed), or the invitation's id when it
        answered 201 (they were not a collaborator, so GitHub invited them). A 422 (for example
        an organisation base role above `permission`) raises GitHubInvalid."""

        def put() -> int | None:
            status, _, data = self._request(
                "PUT",
                f"/repos/{_r(repo)}/collaborators/{_q(login)}",
                body={"permission": permission},
            )
            if status == 201 and isinstance(data, dict) and data.get("id") is not None:
                return int(data["id"])
            return None

        return self._call(put, f"giving {login} {permission} on {repo}")

    def is_collaborator(self, repo: str, login: str) -> bool:
        """`GET /repos/{owner}/{repo}/collaborators/{username}` ("Check if a user is a repository
        collaborator", https://docs.github.com/rest/collaborators/collaborators): 204 is True,
        404 is False, and anything else is retried or raised (PyGithub's `has_in_collaborators`
        reads every failure as False)."""

        def check() -> bool:
            try:
                status, _, _ = self._request("GET", f"/repos/{_r(repo)}/collaborators/{_q(login)}")
            except GithubException as exc:
                if exc.status == 404:
                    return False
                raise
            return status == 204

        return self._call(check, f"whether {login} collaborates on {repo}")

    def collaborator_permission(self, repo: str, login: str) -> str:
        """`GET /repos/{owner}/{repo}/collaborators/{username}/permission` ("Get repository
        permissions for a user", https://docs.github.com/rest/collaborators/collaborators): the
        user's access to the repository, whatever gives it (collaborator, team, organisation
        base role or ownership), as GitHub's `permission` field gives it: "admin", "write",
        "read" or "none" (maintain counts as write, triage as read, and a custom role as the
        base role it extends; `role_name` would name a custom role we cannot judge). A 404 (no
        such user or repository) raises GitHubNotFound; an answer without a known permission
        raises GitHubError rather than reading as "none"."""

        def get() -> str:
            _, _, data = self._request(
                "GET", f"/repos/{_r(repo)}/collaborators/{_q(login)}/permission"
            )
            permission = data.get("permission") if isinstance(data, dict) else None
            if permission not in ("admin", "write", "read", "none"):
                raise GitHubError(f"{login}'s permission on {repo}: GitHub gave no permission")
            return str(permission)

        return self._call(get, f"{login}'s permission on {repo}")

    def invitations(self, repo: str) -> list[dict]:
        """`GET /repos/{owner}/{repo}/invitations`, every page ("List repository invitations",
        https://docs.github.com/rest/collaborators/invitations), expired ones included (GitHub
        keeps listing an invitation after its 7 days, with `"expired": true`): each as {"id",
        "login", "permission", "expired", "created_at"}."""
        return [
            {
                "id": int(i["id"]),
                "login": (i.get("invitee") or {}).get("login"),
                "permission": i.get("permissions"),
                "expired": bool(i.get("expired")),
                "created_at": _time(i.get("created_at")),
            }
            for i in self._pages(f"/repos/{_r(repo)}/invitations", f"{repo}'s invitations")
        ]

    def pending_invitees(self, repo: str) -> list[str]:
        """`GET /repos/{owner}/{repo}/invitations` (every page): the logins invited and not
        yet joined whose invitation has not expired."""
        return [i["login"] for i in self.invitations(repo) if i["login"] and not i["expired"]]

    def delete_invitation(self, repo: str, invitation_id: int) -> None:
        """`DELETE /repos/{owner}/{repo}/invitations/{invitation_id}` ("Delete a repository
        invitation", https://docs.github.com/rest/collaborators/invitations). An expired
        invitation must go before the same person can be invited again."""
        self._call(
            lambda: self._request("DELETE", f"/repos/{_r(repo)}/invitations/{int(invitation_id)}"),
            f"withdrawing invitation {invitation_id} on {repo}",
        )

    def update_invitation(self, repo: str, invitation_id: int, permission: str) -> None:
        """`PATCH /repos/{owner}/{repo}/invitations/{invitation_id}` with `{"permissions": ...}`
        ("Update a repository invitation",
        https://docs.github.com/rest/collaborators/invitations). GitHub names the roles read,
        triage, write, maintain and admin there; "pull" and "push" are accepted and sent as
        "read" and "write"."""
        body = {"permissions": {"pull": "read", "push": "write"}.get(permission, permission)}
        self._call(
            lambda: self._request(
                "PATCH", f"/repos/{_r(repo)}/invitations/{int(invitation_id)}", body=body
            ),
            f"changing invitation {invitation_id} on {repo} to {permission}",
        )

    def grant_team(self, org: str, team_slug: str, repo: str, permission: str = "pull") -> None:
        """`PUT /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}` ("Add or update team
        repository permissions", https://docs.github.com/rest/teams/teams). Sent directly and
        checked: PyGithub's `update_team_repository` reads every failure as False
        (github-facts.md #4)."""
        self._call(
            lambda: self._request(
                "PUT",
                f"/orgs/{_q(org)}/teams/{_q(team_slug)}/repos/{_r(repo)}",
                body={"permission": permission},
            ),
            f"giving team {team_slug} {permission} on {repo}",
        )

    # --- branches, files, pull requests ------------------------------------------------------

    def branch_sha(self, repo: str, branch: str) -> str | None:
        """`GET /repos/{owner}/{repo}/git/ref/heads/{branch}` ("Get a reference",
        https://docs.github.com/rest/git/refs): the branch's commit, or None when it does not
        exist (404) or the repository has no commits yet (409 "Git Repository is empty.", which
        is also what a repository generated from a template answers until its copy is made;
        "Using the REST API to interact with your Git database", github-facts.md #1 and #3)."""

        def get() -> str | None:
            try:
                _, _, data = self._request(
                    "GET", f"/repos/{_r(repo)}/git/ref/heads/{_q(branch, '/')}"
                )
            except GithubException as exc:
                if exc.status in (404, 409):
                    return None
                raise
            return str(data["object"]["sha"])

        return self._call(get, f"branch {branch} of {repo}")

    def create_branch(self, repo: str, branch: str, sha: str) -> None:
        """`POST /repos/{owner}/{repo}/git/refs` ("Create a reference",
        https://docs.github.com/rest/git/refs)."""
        self._call(
            lambda: self._request(
                "POST",
                f"/repos/{_r(repo)}/git/refs",
                body={"ref": f"refs/heads/{branch}", "sha": sha},
            ),
            f"creating branch {branch} on {repo}",
        )

    def put_file(self, repo: str, path: str, content: str, message: str, branch: str) -> str:
        """`GET /repos/{owner}/{repo}/contents/{path}` for the sha it replaces, then `PUT` of the
        same path ("Get repository content", "Create or update file contents",
        https://docs.github.com/rest/repos/contents): commits `content` to `branch` and returns
        the commit's sha. An unchanged file is not committed again: the branch's commit is
        returned (`GET .../git/ref/heads/{branch}`). One write either way at most."""
        url = f"/repos/{_r(repo)}/contents/{_q(path, '/')}"

        def put() -> str:
            try:
                _, _, current = self._request("GET", url, parameters={"ref": branch})
            except GithubException as exc:
                if exc.status != 404:
                    raise
                current = None
            body: dict[str, Any] = {
                "message": message,
                "content": base64.b64encode(content.encode("utf-8")).decode("ascii"),
                "branch": branch,
            }
            if isinstance(current, dict):
                old = base64.b64decode(current.get("content") or "").decode("utf-8", "replace")
                if old == content:
                    _, _, ref = self._request(
                        "GET", f"/repos/{_r(repo)}/git/ref/heads/{_q(branch, '/')}"
                    )
                    return str(ref["object"]["sha"])
                body["sha"] = current["sha"]
            _, _, data = self._request("PUT", url, body=body)
            return str(data["commit"]["sha"])

        return self._call(put, f"committing {path} to {repo}")

    def find_pull(self, repo: str, head: str, base: str) -> int | None:
        """`GET /repos/{owner}/{repo}/pulls?state=all&head=OWNER:HEAD&base=BASE` ("List pull
        requests", https://docs.github.com/rest/pulls/pulls): the number of the pull request from
        `head` into `base`, or None."""
        owner = repo.split("/")[0]
        pulls = self._pages(
            f"/repos/{_r(repo)}/pulls",
            f"pull requests of {repo}",
            parameters={"state": "all", "head": f"{owner}:{head}", "base": base},
            stop=bool,  # the first match is all that is wanted
        )
        return int(pulls[0]["number"]) if pulls else None

    def open_pull(self, repo: str, title: str, head: str, base: str, body: str) -> int:
        """`POST /repos/{owner}/{repo}/pulls` ("Create a pull request",
        https://docs.github.com/rest/pulls/pulls)."""
        data = self._call(
            lambda: self._request(
                "POST",
                f"/repos/{_r(repo)}/pulls",
                body={"title": title, "head": head, "base": base, "body": body},
            )[2],
            f"opening a pull request on {repo}",
        )
        return int(data["number"])

    # --- comments ----------------------------------------------------------------------------

    def comments(self, repo: str, number: int) -> list[dict]:
        """`GET /repos/{owner}/{repo}/issues/{issue_number}/comments`, every page ("List issue
        comments", https://docs.github.com/rest/issues/comments), of pull request `number` (a
        pull request is an issue to this endpoint): each as {"id", "body", "author"}."""
        found = self._pages(
            f"/repos/{_r(repo)}/issues/{int(number)}/comments", f"comments on {repo}#{number}"
        )
        return [
            {"id": int(c["id"]), "body": c.get("body") or "", "author": _login(c.get("user"))}
            for c in found
        ]

    def create_comment(self, repo: str, number: int, body: str) -> int:
        """`POST /repos/{owner}/{repo}/issues/{issue_number}/comments` ("Create an issue
        comment", https://docs.github.com/rest/issues/comments). Not retried after an ambiguous
        failure: the caller looks for it first."""
        data = self._call(
            lambda: self._request(
                "POST", f"/repos/{_r(repo)}/issues/{int(number)}/comments", body={"body": body}
            )[2],
            f"commenting on {repo}#{number}",
            creates=True,
        )
        return int(data["id"])

    def edit_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        """`PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}` ("Update an issue comment",
        https://docs.github.com/rest/issues/comments) of a comment on pull request `number`."""
        self._call(
            lambda: self._request(
                "PATCH", f"/repos/{_r(repo)}/issues/comments/{int(comment_id)}", body={"body": body}
            ),
            f"editing comment {comment_id} on {repo}#{number}",
        )

    def delete_comment(self, repo: str, number: int, comment_id: int) -> None:
        """`DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}` ("Delete an issue
        comment", https://docs.github.com/rest/issues/comments) of a comment on pull request
        `number`."""
        self._call(
            lambda: self._request("DELETE", f"/repos/{_r(repo)}/issues/comments/{int(comment_id)}"),
            f"deleting comment {comment_id} on {repo}#{number}",
        )

    # --- check runs and statuses -------------------------------------------------------------

    def check_runs(self, repo: str, sha: str, name: str | None = None) -> list[dict]:
        """`GET /repos/{owner}/{repo}/commits/{ref}/check-runs`, every page ("List check runs for
        a Git reference", https://docs.github.com/rest/checks/runs), each with the id of the App
        that created it: only our App's count when results are read back (github-facts.md #17)."""
        # filter=all: every run, not only the latest per name (a same-named run from the
        # candidate's own workflow must never hide ours).
        parameters = {"filter": "all", **({"check_name": name} if name else {})}
        found = self._pages(
            f"/repos/{_r(repo)}/commits/{_q(sha)}/check-runs",
            f"check runs on {repo}@{sha[:7]}",
            parameters=parameters,
            key="check_runs",
        )
        return [
            {
                "id": int(c["id"]),
                "name": c.get("name"),
                "app_id": (c.get("app") or {}).get("id"),
                "conclusion": c.get("conclusion"),
                "title": (c.get("output") or {}).get("title"),
                "summary": (c.get("output") or {}).get("summary"),
                "external_id": c.get("external_id"),
            }
            for c in found
        ]

    def create_check_run(self, repo: str, sha: str, name: str, **fields: Any) -> int:
        """`POST /repos/{owner}/{repo}/check-runs` ("Create a check run",
        https://docs.github.com/rest/checks/runs; GitHub allows it to Apps only). Not retried
        after an ambiguous failure: the caller looks for it first."""
        body = {"name": name, "head_sha": sha, **_jsonable(fields)}
        data = self._call(
            lambda: self._request("POST", f"/repos/{_r(repo)}/check-runs", body=body)[2],
            f"creating check run {name} on {repo}@{sha[:7]}",
            creates=True,
        )
        return int(data["id"])

    def update_check_run(self, repo: str, check_run_id: int, **fields: Any) -> None:
        """`PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}` ("Update a check run",
        https://docs.github.com/rest/checks/runs)."""
        self._call(
            lambda: self._request(
                "PATCH", f"/repos/{_r(repo)}/check-runs/{int(check_run_id)}", body=_jsonable(fields)
            ),
            f"updating check run {check_run_id} on {repo}",
        )

    def create_status(
        self, repo: str, sha: str, *, state: str, description: str, context: str
    ) -> None:
        """`POST /repos/{owner}/{repo}/statuses/{sha}` ("Create a commit status",
        https://docs.github.com/rest/commits/statuses); GitHub takes at most 140 characters of
        description."""
        body = {"state": state, "description": description[:140], "context": context}
        self._call(
            lambda: self._request("POST", f"/repos/{_r(repo)}/statuses/{_q(sha)}", body=body),
            f"setting a commit status on {repo}@{sha[:7]}",
        )

    # --- workflows ---------------------------------------------------------------------------

    def dispatch(self, repo: str, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        """`POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches` ("Create a
        workflow dispatch event", https://docs.github.com/rest/actions/workflows). Sent directly:
        PyGithub's `Workflow.create_dispatch` reads every failure as False."""
        self._call(
            lambda: self._request(
                "POST",
                f"/repos/{_r(repo)}/actions/workflows/{_q(workflow)}/dispatches",
                body={"ref": ref, "inputs": inputs},
            ),
            f"dispatching {workflow} on {repo}",
        )

    # --- push times: activity and (legacy) events --------------------------------------------

    def repo_activity(
        self,
        repo: str,
        *,
        ref: str | None = None,
        activity_type: str | None = None,
        time_period: str | None = None,
        actor: str | None = None,
    ) -> list[dict]:
        """`GET /repos/{owner}/{repo}/activity`, every page (cursor pagination through the Link
        header), newest first ("List repository activities",
        https://docs.github.com/rest/repos/repos): the pushes, force pushes, branch creations and
        deletions, and merges GitHub recorded when they happened (github-facts.md #7). Each as
        {"id", "before", "after", "ref", "timestamp", "activity_type", "actor"}. Filters as
        GitHub's: `ref` (a branch name or full ref), `activity_type` (push, force_push,
        branch_creation, branch_deletion, pr_merge, merge_queue_merge), `time_period` (day, week,
        month, quarter, year) and `actor` (a login)."""
        wanted = {"ref": ref, "activity_type": activity_type, "time_period": time_period}
        parameters = {k: v for k, v in (wanted | {"actor": actor}).items() if v is not None}
        found = self._pages(
            f"/repos/{_r(repo)}/activity", f"{repo}'s activity", parameters=parameters
        )
        return [
            {
                "id": int(a["id"]),
                "before": a.get("before"),
                "after": a.get("after"),
                "ref": a.get("ref"),
                "timestamp": _time(a.get("timestamp")),
                "activity_type": a.get("activity_type"),
                "actor": _login(a.get("actor")),
            }
            for a in found
        ]

    def push_events(self, repo: str) -> list[dict]:
        """`GET /repos/{owner}/{repo}/events`, every page ("List repository events",
        https://docs.github.com/rest/activity/events): pushes, newest first. The events API lags
        by up to hours and keeps 300 events (github-facts.md #6): nothing new may rely on it; see
        `repo_activity`."""
        return [
            {
                "ref": e["payload"].get("ref"),
                "sha": e["payload"].get("head"),
                "pushed_at": _time(e.get("created_at")),
                "actor": _login(e.get("actor")),
            }
            for e in self._events(repo)
            if e.get("type") == "PushEvent"
        ]

    def member_events(self, repo: str) -> list[dict]:
        """`GET /repos/{owner}/{repo}/events`, every page ("List repository events",
        https://docs.github.com/rest/activity/events): collaborators added, with times. Lags as
        `push_events` does."""
        return [
            {
                "action": e["payload"].get("action"),
                "login": _login(e["payload"].get("member")),
                "at": _time(e.get("created_at")),
            }
            for e in self._events(repo)
            if e.get("type") == "MemberEvent"
        ]

    def _events(self, repo: str) -> list[dict]:
        events = self._pages(f"/repos/{_r(repo)}/events", f"{repo}'s events")
        return [{**e, "payload": e.get("payload") or {}} for e in events]

    # --- the App's webhook -------------------------------------------------------------------

    def hook_deliveries(self, since: datetime | None = None) -> list[dict]:
        """`GET /app/hook/deliveries` (JWT; cursor pagination through the Link header), newest
        first, stopping at the first delivery older than `since` ("List deliveries for an app
        webhook", https://docs.github.com/rest/apps/webhooks). GitHub never redelivers by itself;
        this is how failed deliveries are found (github-facts.md #9). Each as {"id", "guid",
        "delivered_at", "redelivery", "status", "status_code", "event", "action",
        "repository_id"}."""

        def older(page: list) -> bool:
            return since is not None and any(
                (_time(d.get("delivered_at")) or since) < since for d in page
            )

        found = self._pages("/app/hook/deliveries", "the App's webhook deliveries",
                            app=True, stop=older)  # fmt: skip
        deliveries = [
            {
                "id": int(d["id"]),
                "guid": d.get("guid"),
                "delivered_at": _time(d.get("delivered_at")),
                "redelivery": bool(d.get("redelivery")),
                "status": d.get("status"),
                "status_code": d.get("status_code"),
                "event": d.get("event"),
                "action": d.get("action"),
                "repository_id": d.get("repository_id"),
            }
            for d in found
        ]
        if since is None:
            return deliveries
        return [d for d in deliveries if d["delivered_at"] is None or d["delivered_at"] >= since]

    def redeliver_hook(self, delivery_id: int) -> None:
        """`POST /app/hook/deliveries/{delivery_id}/attempts` (JWT; GitHub answers 202):
        ("Redeliver a delivery for an app webhook", https://docs.github.com/rest/apps/webhooks).
        The redelivery keeps the original's X-GitHub-Delivery guid and payload."""
        self._call(
            lambda: self._request(
                "POST", f"/app/hook/deliveries/{int(delivery_id)}/attempts", app=True
            ),
            f"redelivering webhook delivery {delivery_id}",
        )

    # --- git over HTTPS ----------------------------------------------------------------------

    def git_env(self) -> dict[str, str]:
        """Environment for `git` to authenticate with this gateway's token, through an
        `http.extraHeader` set by environment (never in a URL or a command line)."""
        basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            "GIT_TERMINAL_PROMPT": "0",
        }

    def git(self, *args: str, cwd: Path | None = None) -> str:
        """Run `git` with this gateway's credentials (git's smart HTTP protocol); GitHubError
        with git's message on failure."""
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**os.environ, **self.git_env()},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            message = proc.stderr.strip().replace(self.token, "***")[-500:]
            raise GitHubError(f"git {args[0]} failed: {message}")
        return proc.stdout


def _q(value: str, safe: str = "") -> str:
    """A path segment, escaped."""
    return urllib.parse.quote(str(value), safe=safe)


def _r(full_name: str) -> str:
    """`owner/name`, each part escaped."""
    owner, _, name = full_name.partition("/")
    return f"{_q(owner)}/{_q(name)}"


def _json(text: str | bytes | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"message": text if isinstance(text, str) else text.decode("utf-8", "replace")}


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    """Keyword fields as JSON: datetimes as GitHub's ISO 8601 in UTC."""

    def one(value: Any) -> Any:
        if isinstance(value, datetime):
            return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(value, dict):
            return {k: one(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [one(v) for v in value]
        return value

    return {k: one(v) for k, v in fields.items()}


def _next_link(link: str | None) -> str | None:
    """The `rel="next"` address of a Link header, if any."""
    for part in (link or "").split(","):
        match = re.match(r"\s*<([^>]+)>\s*;(.*)", part)
        if match and re.search(r'rel="?next"?', match.group(2)):
            return match.group(1)
    return None


def _login(user: Any) -> str | None:
    return user.get("login") if isinstance(user, dict) else None


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _time(value: Any) -> datetime | None:
    """GitHub's times: ISO 8601 strings, or epoch seconds (as in push payloads)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return _utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def _repo_dict(r: dict) -> dict:
    return {
        "id": r.get("id"),
        "full_name": r.get("full_name"),
        "name": r.get("name"),
        "private": r.get("private"),
        "default_branch": r.get("default_branch"),
        "clone_url": r.get("clone_url"),
        "html_url": r.get("html_url"),
        "pushed_at": _time(r.get("pushed_at")),
        "is_template": r.get("is_template"),
    }


def _headers(exc: GithubException) -> dict[str, str]:
    return {k.lower(): v for k, v in (exc.headers or {}).items()}


def _message(exc: GithubException) -> str:
    return str(exc.data.get("message") or "") if isinstance(exc.data, dict) else ""


def _unannounced_limit(exc: GithubException) -> bool:
    """A 403 or 429 that is a rate limit with neither Retry-After nor a primary limit's
    headers: GitHub's secondary-limit message, or any 429 (Too Many Requests)."""
    if exc.status not in (403, 429):
        return False
    headers = _headers(exc)
    if headers.get("retry-after") or headers.get("x-ratelimit-remaining") == "0":
        return False
    text = _message(exc).lower()
    return exc.status == 429 or "secondary rate limit" in text or "abuse" in text


def _rate_limited(exc: GithubException) -> bool:
    if exc.status not in (403, 429):
        return False
    headers = _headers(exc)
    return bool(
        headers.get("retry-after")
        or headers.get("x-ratelimit-remaining") == "0"
        or _unannounced_limit(exc)
        or "rate limit" in _message(exc).lower()
    )


def _mapped(exc: GithubException, what: str) -> GitHubError:
    """PyGithub's exception as the project's own, with GitHub's message."""
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc)
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message += f" ({errors[0].get('message') or errors[0].get('code')})"
    text = f"{what}: GitHub answered {exc.status}: {message}"
    if exc.status == 404:
        return GitHubNotFound(text, exc.status)
    if _rate_limited(exc):
        return GitHubUnavailable(text, exc.status)
    if exc.status in (401, 403):
        return GitHubForbidden(text, exc.status)
    if exc.status == 409:
        return GitHubConflict(text, exc.status)
    if exc.status == 422:
        return GitHubInvalid(text, exc.status)
    if exc.status == 429 or (exc.status or 0) >= 500:
        return GitHubUnavailable(text, exc.status)
    return GitHubError(text, exc.status)
