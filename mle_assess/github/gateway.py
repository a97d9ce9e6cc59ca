"""The one gateway to GitHub: every call this project makes to GitHub goes through here.

It talks through PyGithub, authenticated as a GitHub App (app id and private key, yielding
installation tokens, optionally scoped to one repository with chosen permissions) or with a
plain token. It takes the API's base URL, so GitHub Enterprise Server works too. Each method
names its REST endpoint.

Retries: PyGithub's own are switched off, and `Gateway._call` retries a whole operation with
backoff on a 5xx answer, a dropped connection or a timeout; on the primary rate limit (403
with `X-RateLimit-Remaining: 0`) it waits until `X-RateLimit-Reset`; on the secondary rate
limit (403 or 429 with `Retry-After`) it waits that long. A wait longer than
`RetryPolicy.max_wait` is not attempted: the call fails with GitHubUnavailable, and callers
such as `post` keep the work in their outbox. PyGithub's exceptions become the project's own
(`mle_assess.errors.GitHub*`).
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, GithubIntegration

from mle_assess.errors import (
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
    """How hard to try: attempts per operation, backoff between them, and the longest single
    wait (a rate-limit reset further away than that fails the call instead)."""

    attempts: int = 5
    backoff: float = 1.0
    max_wait: float = 120.0
    timeout: float = 15.0
    # PyGithub's pacing between requests and between writes, which GitHub asks clients to use.
    between_requests: float | None = 0.25
    between_writes: float | None = 1.0
    per_page: int = 100  # items per page of a list (GitHub's largest)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetryPolicy:
        """The defaults, except that MLE_ASSESS_GITHUB_PACING=off drops the pauses between
        requests (for a GitHub Enterprise Server without secondary rate limits)."""
        env = os.environ if env is None else env
        if env.get("MLE_ASSESS_GITHUB_PACING", "").lower() == "off":
            return cls(between_requests=None, between_writes=None)
        return cls()


@dataclass
class Gateway:
    """A connection to GitHub as one identity. `for_installation` narrows an App to one
    repository and chosen permissions."""

    creds: Credentials
    policy: RetryPolicy = field(default_factory=RetryPolicy.from_env)
    sleep: Callable[[float], None] = time.sleep
    _token: str | None = None
    _github: Github | None = None
    _expires_at: datetime | None = None
    _renew: Callable[[], tuple[str, datetime | None]] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _installation: dict[str, int] = field(default_factory=dict)

    # --- identity and tokens -----------------------------------------------------------------

    @property
    def is_app(self) -> bool:
        return self.creds.is_app

    def _integration(self) -> GithubIntegration:
        return GithubIntegration(
            auth=Auth.AppAuth(self.creds.app_id, self.creds.private_key),
            base_url=self.creds.api_url,
            timeout=int(self.policy.timeout),
            retry=None,
            seconds_between_requests=self.policy.between_requests,
            seconds_between_writes=self.policy.between_writes,
        )

    def installation_id(self, owner: str) -> int:
        """`GET /orgs/{org}/installation` (or `/users/{user}/installation`): the App's
        installation on `owner`."""
        if owner not in self._installation:

            def find() -> int:
                integration = self._integration()
                try:
                    return integration.get_org_installation(owner).id
                except GithubException as exc:
                    if exc.status != 404:
                        raise
                    return integration.get_user_installation(owner).id

            self._installation[owner] = self._call(find, f"the App's installation on {owner}")
        return self._installation[owner]

    def installation_token(
        self,
        owner: str,
        *,
        repositories: list[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> str:
        """`POST /app/installations/{installation_id}/access_tokens`: a token for the App's
        installation on `owner`, optionally limited to some repositories and permissions."""
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
        """The same, with the moment the token expires (None if GitHub does not say)."""
        if not self.is_app:
            raise GitHubForbidden("installation tokens need GitHub App credentials")
        installation = self.installation_id(owner)
        body: dict[str, Any] = {}
        if repositories:
            body["repositories"] = repositories
        if permissions:
            body["permissions"] = permissions

        def mint() -> tuple[str, datetime | None]:
            _, data = self._integration().requester.requestJsonAndCheck(
                "POST", f"/app/installations/{installation}/access_tokens", input=body
            )
            expires = data.get("expires_at")
            when = datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None
            return str(data["token"]), when

        return self._call(mint, f"an installation token for {owner}")

    def for_installation(
        self,
        owner: str,
        *,
        repositories: list[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> Gateway:
        """A gateway acting as the App's installation on `owner` (the bot user). Installation
        tokens last an hour: a new one is minted shortly before this one expires, so a
        long-running service (the board) keeps working."""

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
        )

    def _fresh(self) -> None:
        """Mint a new installation token when this one is within RENEW_BEFORE of expiring."""
        if self._renew is None or self._expires_at is None:
            return
        if self.clock() >= self._expires_at - RENEW_BEFORE:
            self._token, self._expires_at = self._renew()
            self._github = None

    def github(self) -> Github:
        """The PyGithub client for this gateway's token (retries off: `_call` does them)."""
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
                seconds_between_requests=self.policy.between_requests,
                seconds_between_writes=self.policy.between_writes,
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
        """`GET /user` for a plain token; for an App installation, `GET /app` gives the bot
        login `SLUG[bot]`, the author of everything the App writes."""
        if self._token is not None and self.is_app:

            def bot() -> str:
                _, data = self._integration().requester.requestJsonAndCheck("GET", "/app")
                return f"{data['slug']}[bot]"

            return self._call(bot, "the App's bot login")
        return self._call(lambda: self.github().get_user().login, "the token's user")

    def app_id(self) -> int | None:
        return self.creds.app_id if self.is_app else None

    # --- the retry loop ----------------------------------------------------------------------

    def _call(self, operation: Callable[[], T], what: str, *, creates: bool = False) -> T:
        """Run `operation`, retrying it whole on the failures GitHub asks clients to retry.

        An operation that `creates` something is retried only when GitHub surely did not act
        (a rate limit): after a timeout, a dropped connection or a 5xx it may have, so the
        caller looks for what was made before trying again (see `post`)."""
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return operation()
            except GithubException as exc:
                wait = self._wait_for(exc, attempt)
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
                    f"more than the {self.policy.max_wait:.0f} s allowed"
                )
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        return self.policy.backoff * 2 ** (attempt - 1)

    def _wait_for(self, exc: GithubException, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the failure is not worth a retry."""
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        status = exc.status
        if status in (403, 429) and headers.get("retry-after"):
            try:
                return max(0.0, float(headers["retry-after"]))
            except ValueError:
                return self._backoff(attempt)
        message = str((exc.data or {}).get("message", "")) if isinstance(exc.data, dict) else ""
        if status in (403, 429) and "secondary rate limit" in message.lower():
            return 60.0  # no Retry-After: GitHub asks to wait at least a minute
        if status in (403, 429) and headers.get("x-ratelimit-remaining") == "0":
            try:
                reset = float(headers.get("x-ratelimit-reset", "0"))
            except ValueError:
                return self._backoff(attempt)
            return max(0.0, reset - time.time()) + 1.0
        if status == 429 or (status is not None and status >= 500):
            return self._backoff(attempt)
        return None

    def _list(self, make: Callable[[], Any], what: str) -> list:
        """A whole paginated list (every page), retried as one operation."""
        return self._call(lambda: list(make()), what)

    # --- repositories ------------------------------------------------------------------------

    def repo(self, full_name: str) -> dict:
        """`GET /repos/{owner}/{repo}`."""
        r = self._call(lambda: self.github().get_repo(full_name), f"repository {full_name}")
        return _repo_dict(r)

    def create_org_repo(self, org: str, name: str, *, private: bool, is_template: bool) -> dict:
        """`POST /orgs/{org}/repos`."""

        def create() -> Any:
            return (
                self.github()
                .get_organization(org)
                .create_repo(name, private=private, is_template=is_template, auto_init=False)
            )

        return _repo_dict(self._call(create, f"creating {org}/{name}"))

    def generate_repo(self, template: str, owner: str, name: str, *, private: bool) -> dict:
        """`POST /repos/{template_owner}/{template_repo}/generate`. GitHub makes the new
        repository public unless `private` is sent as true, so it always is sent."""

        def generate() -> Any:
            source = self.github().get_repo(template)
            org = self.github().get_organization(owner)
            return org.create_repo_from_template(name, source, private=private)

        return _repo_dict(self._call(generate, f"generating {owner}/{name} from {template}"))

    def org_repos(self, org: str) -> list[dict]:
        """`GET /orgs/{org}/repos` (every page)."""
        return [
            _repo_dict(r)
            for r in self._list(
                lambda: self.github().get_organization(org).get_repos(), f"{org}'s repositories"
            )
        ]

    def installation_repos(self) -> list[dict]:
        """`GET /installation/repositories` (every page): what this installation can reach."""
        repos: list[dict] = []
        page = 1
        while True:

            def fetch(page: int = page) -> dict:
                _, data = self.github().requester.requestJsonAndCheck(
                    "GET",
                    "/installation/repositories",
                    parameters={"per_page": self.policy.per_page, "page": page},
                )
                return data

            data = self._call(fetch, "the installation's repositories")
            batch = data.get("repositories", [])
            repos += batch
            if len(batch) < self.policy.per_page or len(repos) >= int(data.get("total_count", 0)):
                return repos
            page += 1

    # --- people ------------------------------------------------------------------------------

    def invite(self, repo: str, login: str, permission: str = "push") -> bool:
        """`PUT /repos/{owner}/{repo}/collaborators/{username}`: True when an invitation was
        sent, False when `login` already was a collaborator."""

        def add() -> bool:
            invitation = self.github().get_repo(repo).add_to_collaborators(login, permission)
            return invitation is not None

        return self._call(add, f"inviting {login} to {repo}")

    def is_collaborator(self, repo: str, login: str) -> bool:
        """`GET /repos/{owner}/{repo}/collaborators/{username}` (204 or 404)."""
        return self._call(
            lambda: self.github().get_repo(repo).has_in_collaborators(login),
            f"whether {login} collaborates on {repo}",
        )

    def pending_invitees(self, repo: str) -> list[str]:
        """`GET /repos/{owner}/{repo}/invitations` (every page): who is invited, not joined."""
        invitations = self._list(
            lambda: self.github().get_repo(repo).get_pending_invitations(),
            f"{repo}'s invitations",
        )
        return [i.invitee.login for i in invitations if i.invitee is not None]

    def grant_team(self, org: str, team_slug: str, repo: str, permission: str = "pull") -> None:
        """`PUT /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}`."""

        def grant() -> None:
            team = self.github().get_organization(org).get_team_by_slug(team_slug)
            team.update_team_repository(self.github().get_repo(repo), permission)

        self._call(grant, f"giving team {team_slug} {permission} on {repo}")

    # --- branches, files, pull requests ------------------------------------------------------

    def branch_sha(self, repo: str, branch: str) -> str | None:
        """`GET /repos/{owner}/{repo}/git/ref/heads/{branch}`: its commit, or None."""

        def get() -> str | None:
            try:
                return self.github().get_repo(repo).get_git_ref(f"heads/{branch}").object.sha
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise

        return self._call(get, f"branch {branch} of {repo}")

    def create_branch(self, repo: str, branch: str, sha: str) -> None:
        """`POST /repos/{owner}/{repo}/git/refs`."""
        self._call(
            lambda: self.github().get_repo(repo).create_git_ref(f"refs/heads/{branch}", sha),
            f"creating branch {branch} on {repo}",
        )

    def put_file(self, repo: str, path: str, content: str, message: str, branch: str) -> str:
        """`PUT /repos/{owner}/{repo}/contents/{path}` (after `GET` of the same path for the
        sha it replaces): commits `content` to `branch`; returns the commit's sha."""

        def put() -> str:
            r = self.github().get_repo(repo)
            try:
                current = r.get_contents(path, ref=branch)
            except GithubException as exc:
                if exc.status != 404:
                    raise
                current = None
            if current is None:
                result = r.create_file(path, message, content, branch=branch)
            else:
                if base64.b64decode(current.content or "").decode("utf-8", "replace") == content:
                    return r.get_branch(branch).commit.sha
                result = r.update_file(path, message, content, current.sha, branch=branch)
            return result["commit"].sha

        return self._call(put, f"committing {path} to {repo}")

    def find_pull(self, repo: str, head: str, base: str) -> int | None:
        """`GET /repos/{owner}/{repo}/pulls?state=all&head=OWNER:HEAD&base=BASE`: the number of
        the pull request from `head` into `base`, or None."""
        owner = repo.split("/")[0]
        pulls = self._list(
            lambda: (
                self.github()
                .get_repo(repo)
                .get_pulls(state="all", head=f"{owner}:{head}", base=base)
            ),
            f"pull requests of {repo}",
        )
        return pulls[0].number if pulls else None

    def open_pull(self, repo: str, title: str, head: str, base: str, body: str) -> int:
        """`POST /repos/{owner}/{repo}/pulls`."""
        return self._call(
            lambda: self.github().get_repo(repo).create_pull(base, head, title=title, body=body),
            f"opening a pull request on {repo}",
        ).number

    # --- comments ----------------------------------------------------------------------------

    def comments(self, repo: str, number: int) -> list[dict]:
        """`GET /repos/{owner}/{repo}/issues/{issue_number}/comments` (every page) of pull
        request `number` (after `GET /repos/{owner}/{repo}/pulls/{pull_number}`)."""
        found = self._list(
            lambda: self.github().get_repo(repo).get_pull(number).get_issue_comments(),
            f"comments on {repo}#{number}",
        )
        return [
            {"id": c.id, "body": c.body or "", "author": c.user.login if c.user else None}
            for c in found
        ]

    def create_comment(self, repo: str, number: int, body: str) -> int:
        """`POST /repos/{owner}/{repo}/issues/{issue_number}/comments`."""
        return self._call(
            lambda: self.github().get_repo(repo).get_pull(number).create_issue_comment(body),
            f"commenting on {repo}#{number}",
            creates=True,
        ).id

    def edit_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        """`PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}` (a comment on pull
        request `number`)."""
        self._call(
            lambda: (
                self.github()
                .get_repo(repo)
                .get_pull(number)
                .get_issue_comment(comment_id)
                .edit(body)
            ),
            f"editing comment {comment_id} on {repo}",
        )

    def delete_comment(self, repo: str, number: int, comment_id: int) -> None:
        """`DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}`."""
        self._call(
            lambda: (
                self.github().get_repo(repo).get_pull(number).get_issue_comment(comment_id).delete()
            ),
            f"deleting comment {comment_id} on {repo}",
        )

    # --- check runs and statuses -------------------------------------------------------------

    def check_runs(self, repo: str, sha: str, name: str | None = None) -> list[dict]:
        """`GET /repos/{owner}/{repo}/commits/{ref}/check-runs` (every page), each with the id
        of the App that created it: only our App's count when results are read back."""
        # filter=all: every run, not only the latest per name (a same-named run from the
        # candidate's own workflow must never hide ours).
        kwargs = {"check_name": name, "filter": "all"} if name else {"filter": "all"}
        found = self._list(
            lambda: self.github().get_repo(repo).get_commit(sha).get_check_runs(**kwargs),
            f"check runs on {repo}@{sha[:7]}",
        )
        return [
            {
                "id": c.id,
                "name": c.name,
                "app_id": c.app.id if c.app else None,
                "conclusion": c.conclusion,
                "title": (c.output.title if c.output else None),
                "summary": (c.output.summary if c.output else None),
                "external_id": c.external_id,
            }
            for c in found
        ]

    def create_check_run(self, repo: str, sha: str, name: str, **fields: Any) -> int:
        """`POST /repos/{owner}/{repo}/check-runs` (GitHub allows it to Apps only)."""
        return self._call(
            lambda: self.github().get_repo(repo).create_check_run(name, sha, **fields),
            f"creating check run {name} on {repo}@{sha[:7]}",
            creates=True,
        ).id

    def update_check_run(self, repo: str, check_run_id: int, **fields: Any) -> None:
        """`PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}`."""
        self._call(
            lambda: self.github().get_repo(repo).get_check_run(check_run_id).edit(**fields),
            f"updating check run {check_run_id} on {repo}",
        )

    def create_status(
        self, repo: str, sha: str, *, state: str, description: str, context: str
    ) -> None:
        """`POST /repos/{owner}/{repo}/statuses/{sha}`."""
        self._call(
            lambda: (
                self.github()
                .get_repo(repo)
                .get_commit(sha)
                .create_status(state, description=description[:140], context=context)
            ),
            f"setting a commit status on {repo}@{sha[:7]}",
        )

    # --- workflows and events ----------------------------------------------------------------

    def dispatch(self, repo: str, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        """`POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches`."""

        def send() -> None:
            # Called directly: PyGithub's Workflow.create_dispatch turns every failure into a
            # plain False, which would hide a 5xx or a rate limit from the retries.
            self.github().requester.requestJsonAndCheck(
                "POST",
                f"/repos/{repo}/actions/workflows/{workflow}/dispatches",
                input={"ref": ref, "inputs": inputs},
            )

        self._call(send, f"dispatching {workflow} on {repo}")

    def push_events(self, repo: str) -> list[dict]:
        """`GET /repos/{owner}/{repo}/events` (every page): pushes, newest first, each with the
        time GitHub received it (trusted, unlike a commit's own date)."""
        events = self._list(lambda: self.github().get_repo(repo).get_events(), f"{repo}'s events")
        return [
            {
                "ref": e.payload.get("ref"),
                "sha": e.payload.get("head"),
                "pushed_at": _utc(e.created_at),
                "actor": e.actor.login if e.actor else None,
            }
            for e in events
            if e.type == "PushEvent"
        ]

    def member_events(self, repo: str) -> list[dict]:
        """`GET /repos/{owner}/{repo}/events` (every page): collaborators added, with times."""
        events = self._list(lambda: self.github().get_repo(repo).get_events(), f"{repo}'s events")
        return [
            {
                "action": e.payload.get("action"),
                "login": (e.payload.get("member") or {}).get("login"),
                "at": _utc(e.created_at),
            }
            for e in events
            if e.type == "MemberEvent"
        ]

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
        """Run `git` with this gateway's credentials; GitHubError with git's message on failure."""
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


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _repo_dict(r: Any) -> dict:
    return {
        "full_name": r.full_name,
        "name": r.name,
        "private": r.private,
        "default_branch": r.default_branch,
        "clone_url": r.clone_url,
        "html_url": r.html_url,
        "pushed_at": _utc(r.pushed_at),
        "is_template": getattr(r, "is_template", None),
    }


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
    if exc.status in (401, 403):
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        if headers.get("x-ratelimit-remaining") == "0" or headers.get("retry-after"):
            return GitHubUnavailable(text, exc.status)
        return GitHubForbidden(text, exc.status)
    if exc.status == 422:
        return GitHubInvalid(text, exc.status)
    if exc.status == 429 or (exc.status or 0) >= 500:
        return GitHubUnavailable(text, exc.status)
    return GitHubError(text, exc.status)
