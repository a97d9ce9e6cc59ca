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
    """Records every wait the gateway asks for, instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class GitHubEnv:
    server: FakeGitHub
    app: AppCredentials
    admin_token: str
    sleeps: Sleeps = field(default_factory=Sleeps)

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
        """The App's gateway (JWT side), with waits recorded instead of slept."""
        return Gateway(self.creds, self.policy(**policy), sleep=self.sleeps)

    def bot(self, **policy) -> Gateway:
        """The App's installation on the organisation: the bot that posts."""
        return self.root(**policy).for_installation(ORG)

    def token_gateway(self, token: str, **policy) -> Gateway:
        return Gateway(
            Credentials(api_url=self.server.api_url, token=token),
            self.policy(**policy),
            sleep=self.sleeps,
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
