"""Shared set-up for the tests that talk to the GitHub-shaped server through our gateway: an
organisation with an owner, a reviewers' team, our App installed on it, and a template."""

from __future__ import annotations

from dataclasses import dataclass, field

from fakegithub import AppCredentials, FakeGitHub
from fakegithub.control import DEFAULT_APP_PERMISSIONS

from mle_assess.github.gateway import Credentials, Gateway, RetryPolicy

ORG = "acme"
TEAM = "reviewers"


class Sleeps(list):
    """Records every wait the gateway asks for, and waits on the test server's movable clock
    (given one) instead of really waiting: GitHub's generation, limits and expiries then move
    on as they would."""

    def __init__(self, server: FakeGitHub | None = None) -> None:
        super().__init__()
        self.server = server

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.server is not None:
            self.server.advance_clock(seconds)


@dataclass
class GitHubEnv:
    server: FakeGitHub
    app: AppCredentials
    admin_token: str
    sleeps: Sleeps = field(default_factory=Sleeps)

    def __post_init__(self) -> None:
        self.sleeps.server = self.server

    @property
    def creds(self) -> Credentials:
        return Credentials(
            api_url=self.server.api_url, app_id=self.app.id, private_key=self.app.private_key_pem
        )

    def policy(self, **changes) -> RetryPolicy:
        values = {
            "attempts": 4,
            "backoff": 0.01,
            "max_wait": 30.0,
            "timeout": 5.0,
            "between_requests": None,
            "between_writes": None,
        }
        return RetryPolicy(**(values | changes))

    def root(self, **policy) -> Gateway:
        """The App's gateway (JWT side) on the server's clock: its waits are recorded, and
        move that clock instead of passing."""
        return Gateway(
            self.creds, self.policy(**policy), sleep=self.sleeps, clock=self.server.clock
        )

    def bot(self, **policy) -> Gateway:
        """The App's installation on the organisation: the bot that posts."""
        return self.root(**policy).for_installation(ORG)

    def token_gateway(self, token: str, **policy) -> Gateway:
        return Gateway(
            Credentials(api_url=self.server.api_url, token=token),
            self.policy(**policy),
            sleep=self.sleeps,
            clock=self.server.clock,
        )


def make_env(server: FakeGitHub) -> GitHubEnv:
    admin = server.add_user("admin")
    server.add_org(ORG, owners=("admin",))
    server.add_user("reviewer")
    server.add_team(ORG, "Reviewers", members=["reviewer"], slug=TEAM)
    # Slugs are unique across github.com: ours is never "mle-assess" (github-facts.md #11).
    # The permissions the README's "Setting up GitHub" lists, Workflows included: without it
    # GitHub refuses the template's .github/workflows/check.yml (github-facts.md #2).
    app = server.add_app(
        "acme-hiring-grader", ORG, permissions={**DEFAULT_APP_PERMISSIONS, "workflows": "write"}
    )
    return GitHubEnv(server, app, admin)
