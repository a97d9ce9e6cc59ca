"""`publish-template` and `provision` on the faithful test GitHub, on its movable clock.

The server answers 409 for an empty repository's Git calls, finishes template generation
`generation_seconds` after the 201, expires invitations after 7 days, refuses workflow files
from an App without the Workflows permission, and enforces the write limits (80 a minute, 500
an hour). The gateway sleeps and reads time through the server's clock, so an hour of
provisioning passes at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from boardseed import HTTPS, PASSWORD, signed_in
from click.testing import CliRunner
from fakegithub import FakeGitHub, bypass_proxies
from fakegithub.control import DEFAULT_APP_PERMISSIONS
from github import Auth, Github
from github_env import ORG, TEAM, GitHubEnv
from sqlalchemy import select

from mle_assess.cli import main
from mle_assess.db import Candidate, connect
from mle_assess.errors import MleAssessError
from mle_assess.github.gateway import Gateway, RetryPolicy
from mle_assess.github.provision import (
    Entry,
    ProvisionIncomplete,
    provision,
    publish_template,
)

TEMPLATE = f"{ORG}/mle-template"
# A real App starts without Workflows; ours needs it to publish .github/workflows/.
WITH_WORKFLOWS = {**DEFAULT_APP_PERMISSIONS, "workflows": "write"}


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Starts a faithful server with the given options; stops each after the test."""
    bypass_proxies(monkeypatch)
    servers: list[FakeGitHub] = []

    def started(**options: object) -> FakeGitHub:
        server = FakeGitHub(tmp_path / f"fakegithub-{len(servers)}", **options).start()
        servers.append(server)
        return server

    yield started
    for server in servers:
        server.stop()
        assert not server.errors, "\n".join(server.errors)


def organisation(server: FakeGitHub, permissions: dict[str, str] = WITH_WORKFLOWS) -> GitHubEnv:
    """An organisation with an owner, the reviewers' team and our App installed."""
    admin = server.add_user("admin")
    server.add_org(ORG, owners=("admin",))
    server.add_user("reviewer")
    server.add_team(ORG, "Reviewers", members=["reviewer"], slug=TEAM)
    app = server.add_app("acme-hiring-grader", ORG, permissions=permissions)
    return GitHubEnv(server, app, admin)


def bot(env: GitHubEnv) -> Gateway:
    """The App's installation with the gateway's own defaults (pacing, retries, waits),
    waiting and telling time on the server's clock."""
    root = Gateway(env.creds, RetryPolicy(), sleep=env.server.advance_clock, clock=env.server.clock)
    return root.for_installation(ORG)


def admin_api(env: GitHubEnv) -> Github:
    return Github(base_url=env.server.api_url, auth=Auth.Token(env.admin_token), retry=None)


def run_provision(gh: Gateway, roster: list[Entry], sessions, lines: list[str]) -> list[str]:  # noqa: ANN001
    return provision(
        gh,
        roster,
        org=ORG,
        template=TEMPLATE,
        team=TEAM,
        prefix="mle-",
        sessions=sessions,
        assessment="round-1",
        echo=lines.append,
    )


def candidates(sessions) -> dict[str, Candidate]:  # noqa: ANN001 - a sessionmaker
    with sessions() as session:
        return {c.login: c for c in session.scalars(select(Candidate))}


# --- publish-template ------------------------------------------------------------------------


def test_publish_template_on_a_new_organisation(start):
    env = organisation(start())
    gh, lines = bot(env), []
    sha = publish_template(gh, TEMPLATE, echo=lines.append)
    assert gh.branch_sha(TEMPLATE, "main") == sha
    info = gh.repo(TEMPLATE)
    assert info["private"] and info["is_template"]
    workflow = admin_api(env).get_repo(TEMPLATE).get_contents(".github/workflows/check.yml", "main")
    assert b"check.py" in workflow.decoded_content
    assert lines[:2] == [
        f"[template] created {TEMPLATE} (private, a template)",
        f"[template] {TEMPLATE} has no main yet",
    ]


def test_publish_template_on_an_empty_repository_left_by_a_failed_run(start):
    env = organisation(start())
    env.server.create_repo(ORG, "mle-template", private=True, is_template=True)  # no commits
    gh, lines = bot(env), []
    sha = publish_template(gh, TEMPLATE, echo=lines.append)
    assert gh.branch_sha(TEMPLATE, "main") == sha
    assert f"[template] {TEMPLATE} exists" in lines and "[template] pushed" in lines[-1]


def test_publish_template_again_pushes_nothing(start):
    env = organisation(start())
    gh = bot(env)
    first = publish_template(gh, TEMPLATE, echo=lambda _: None)
    pushes = len(env.server.requests_matching("POST", "git-receive-pack"))
    lines: list[str] = []
    assert publish_template(gh, TEMPLATE, echo=lines.append) == first
    assert lines[-1] == "[template] already up to date"
    assert len(env.server.requests_matching("POST", "git-receive-pack")) == pushes
    assert gh.branch_sha(TEMPLATE, "main") == first


def test_publish_template_without_the_workflows_permission_names_it(start, monkeypatch):
    env = organisation(start(), permissions=DEFAULT_APP_PERMISSIONS)
    gh = bot(env)
    with pytest.raises(MleAssessError) as refused:
        publish_template(gh, TEMPLATE, echo=lambda _: None)
    message = str(refused.value)
    assert "\n" not in message and "Workflows permission" in message
    assert gh.branch_sha(TEMPLATE, "main") is None  # the push was refused whole
    # The command says the same in one line and exits non-zero.
    for name, value in cli_env(env).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["publish-template"])
    assert result.exit_code == 1
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "Workflows permission" in error and result.output.endswith(error + "\n")


def cli_env(env: GitHubEnv) -> dict[str, str]:
    return {
        "MLE_ASSESS_GITHUB_API": env.server.api_url,
        "MLE_ASSESS_APP_ID": str(env.app.id),
        "MLE_ASSESS_APP_PRIVATE_KEY": env.app.private_key_pem,
        "MLE_ASSESS_GITHUB_PACING": "off",
        "MLE_ASSESS_ORG": ORG,
        "MLE_ASSESS_TEMPLATE_REPO": TEMPLATE,
    }


# --- provision -------------------------------------------------------------------------------

ROSTER = [Entry("Alice Adams", "alice"), Entry("Bob Brown", "bob"), Entry("Cy Chen", "cy")]


@pytest.fixture
def published(start, tmp_path):
    """A slow-generating server with the template published, the roster's accounts, and a
    database."""
    env = organisation(start(generation_seconds=120))
    for entry in ROSTER:
        env.server.add_user(entry.login)
    gh = bot(env)
    template_sha = publish_template(gh, TEMPLATE, echo=lambda _: None)
    _, sessions = connect(f"sqlite:///{tmp_path / 'board.db'}")
    return env, gh, template_sha, sessions


def test_provision_waits_for_generation_and_records_the_template_commit(published):
    env, gh, template_sha, sessions = published
    began, lines = env.server.clock(), []
    assert run_provision(gh, ROSTER, sessions, lines) == [f"{ORG}/mle-{e.login}" for e in ROSTER]
    # Nothing could be completed before generation finished, on the server's clock.
    assert env.server.clock() - began >= timedelta(seconds=120)
    assert lines[0].startswith("[provision] 3 candidates, about 18 writes: ")
    assert lines[0].endswith(" at GitHub's write limits")
    # Every repository is generated before any is completed.
    generating = [i for i, line in enumerate(lines) if ": generating from " in line]
    assert len(generating) == 3 and max(generating) < min(
        i for i, line in enumerate(lines) if "team reviewers can read" in line
    )
    assert "[3/3] acme/mle-cy: ready (3 of 3 done)" in lines
    rows = candidates(sessions)
    for entry in ROSTER:
        row, repo = rows[entry.login], f"{ORG}/mle-{entry.login}"
        # The template's own commit, not the generated repository's fresh one.
        assert row.template_commit == template_sha != gh.branch_sha(repo, "feedback")
        assert row.invitation == "pending" and row.feedback_pull == gh.find_pull(
            repo, "main", "feedback"
        )
        assert gh.pending_invitees(repo) == [entry.login]


def test_a_repository_that_never_becomes_ready_is_reported_and_the_others_finish(published):
    env, gh, template_sha, sessions = published
    # An empty repository (a generation that never finished) where bob's should be.
    env.server.create_repo(ORG, "mle-bob", private=True)
    began, lines = env.server.clock(), []
    with pytest.raises(ProvisionIncomplete) as incomplete:
        run_provision(gh, ROSTER, sessions, lines)
    assert incomplete.value.made == [f"{ORG}/mle-alice", f"{ORG}/mle-cy"]
    assert list(incomplete.value.unfinished) == [f"{ORG}/mle-bob"]
    assert "1 of 3 candidates are unfinished (acme/mle-bob: still being generated" in str(
        incomplete.value
    )
    assert str(incomplete.value).endswith("run provision again")
    # Given up within the bound plus one look, on the server's clock.
    assert timedelta(minutes=10) <= env.server.clock() - began <= timedelta(minutes=11)
    rows = candidates(sessions)
    assert rows["alice"].invitation == rows["cy"].invitation == "pending"
    assert "bob" not in rows  # nothing recorded for a repository never completed


def test_the_command_exits_non_zero_naming_what_is_unfinished(start, tmp_path, monkeypatch):
    # Simpler on purpose: generation finishes at once; the refusal is about a public repository.
    env = organisation(start(generation_seconds=0))
    for entry in ROSTER:
        env.server.add_user(entry.login)
    publish_template(bot(env), TEMPLATE, echo=lambda _: None)
    env.server.create_repo(ORG, "mle-cy", private=False, files={"x": "y"})
    roster = tmp_path / "roster.csv"
    roster.write_text("name,github\n" + "".join(f"{e.name},{e.login}\n" for e in ROSTER))
    for name, value in cli_env(env).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(
        main, ["provision", str(roster), "--db", f"sqlite:///{tmp_path / 'b.db'}"]
    )
    assert result.exit_code == 1
    assert "2 candidate repositories ready" in result.output
    assert "acme/mle-cy: exists and is public" in result.output
    assert "run provision again" in result.output


def test_each_candidate_keeps_the_template_version_they_were_given(published, template_copy):
    env, gh, first, sessions = published
    run_provision(gh, ROSTER[:1], sessions, [])
    readme = template_copy / "README.md"
    readme.write_text(readme.read_text() + "\nA later version of the rules.\n")
    second = publish_template(gh, TEMPLATE, source=template_copy, echo=lambda _: None)
    assert second != first
    run_provision(gh, ROSTER[:2], sessions, [])
    rows = candidates(sessions)
    assert (rows["alice"].template_commit, rows["bob"].template_commit) == (first, second)


def test_expired_invitations_are_sent_again_and_accepted_ones_recorded(published):
    env, gh, _, sessions = published
    run_provision(gh, ROSTER[:2], sessions, [])
    alice = Github(
        base_url=env.server.api_url, auth=Auth.Token(env.server.new_token("alice")), retry=None
    ).get_user()
    (invitation,) = alice.get_invitations()
    alice.accept_invitation(invitation)
    env.server.advance_clock(8 * 24 * 3600)  # bob's invitation expires
    assert [i["expired"] for i in gh.invitations(f"{ORG}/mle-bob")] == [True]
    lines: list[str] = []
    run_provision(gh, ROSTER[:2], sessions, lines)
    (fresh,) = gh.invitations(f"{ORG}/mle-bob")
    assert fresh["login"] == "bob" and not fresh["expired"]
    assert "[2/2] acme/mle-bob: invited again bob (push)" in lines
    assert "[1/2] acme/mle-alice: alice already collaborates" in lines
    rows = candidates(sessions)
    assert (rows["alice"].invitation, rows["bob"].invitation) == ("accepted", "pending")
    assert gh.invitations(f"{ORG}/mle-alice") == []


def test_the_board_shows_an_invitation_that_expired_until_provision_sends_another(published):
    """The board service looks at pending invitations: one GitHub let expire shows on the
    candidate's page, and after `provision` invites again it is pending once more."""
    from mle_assess.board import create_app
    from mle_assess.board.auth import add_user
    from mle_assess.github.provision import refresh_invitations

    env, gh, _, sessions = published
    run_provision(gh, ROSTER[:2], sessions, [])
    alice = Github(
        base_url=env.server.api_url, auth=Auth.Token(env.server.new_token("alice")), retry=None
    ).get_user()
    alice.accept_invitation(alice.get_invitations()[0])
    assert refresh_invitations(sessions, gh, echo=lambda _: None) == [f"{ORG}/mle-alice"]
    env.server.advance_clock(7 * 24 * 3600 + 60)
    # A week on, bob's invitation has expired, and alice's window is opened at GitHub's record
    # of her acceptance (no webhook reached a board here).
    assert refresh_invitations(sessions, gh, echo=lambda _: None) == [
        f"{ORG}/mle-alice",
        f"{ORG}/mle-bob",
    ]
    rows = candidates(sessions)
    assert (rows["alice"].invitation, rows["bob"].invitation) == ("accepted", "expired")
    assert rows["alice"].started_at is not None
    assert refresh_invitations(sessions, gh, echo=lambda _: None) == []
    url = str(sessions.kw["bind"].url)
    app = create_app(url, secret_key="k")
    with sessions.begin() as session:
        add_user(session, "rita", PASSWORD, "recruiter")
    client = signed_in(app, "rita")
    page = client.get(f"/candidates/{rows['bob'].id}", **HTTPS)
    assert "The invitation expired" in page.text
    assert (
        "The invitation expired" not in client.get(f"/candidates/{rows['alice'].id}", **HTTPS).text
    )
    run_provision(gh, ROSTER[:2], sessions, [])
    assert candidates(sessions)["bob"].invitation == "pending"
    assert "The invitation expired" not in client.get(f"/candidates/{rows['bob'].id}", **HTTPS).text


def test_a_window_whose_member_webhook_was_lost_opens_at_githubs_record(published):
    """Nothing ever told the board that alice accepted (no webhook reached it): the service's
    invitations job sees she collaborates, and opens her window at the acceptance GitHub
    recorded, once the events API shows it, not at the moment the board noticed."""
    from mle_assess.github.provision import refresh_invitations

    env, gh, _, sessions = published
    run_provision(gh, ROSTER[:1], sessions, [])
    alice = Github(
        base_url=env.server.api_url, auth=Auth.Token(env.server.new_token("alice")), retry=None
    ).get_user()
    accepted = env.server.clock().replace(microsecond=0)
    alice.accept_invitation(alice.get_invitations()[0])
    assert refresh_invitations(sessions, gh, lambda _: None) == [f"{ORG}/mle-alice"]
    row = candidates(sessions)["alice"]
    assert (row.invitation, row.started_at) == ("accepted", None)  # the events API lags
    env.server.advance_clock(env.server.events_lag_seconds + 600)
    refresh_invitations(sessions, gh, lambda _: None)
    row = candidates(sessions)["alice"]
    opened = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=UTC)
    assert abs((opened - accepted).total_seconds()) <= 1
    assert row.deadline.replace(tzinfo=UTC) - opened == timedelta(minutes=90)


def test_a_hundred_candidates_under_the_write_limits_in_one_run(start, tmp_path):
    """Slow generation, the write limits, ten candidates provisioned a week earlier (three
    accepted, the rest expired): every candidate finished in one run on the simulated clock,
    past the hourly limit, with no write refused."""
    env = organisation(start(generation_seconds=120))
    roster = [Entry(f"Candidate {n}", f"cand{n:03d}") for n in range(100)]
    for entry in roster:
        env.server.add_user(entry.login)
    gh = bot(env)
    publish_template(gh, TEMPLATE, echo=lambda _: None)
    _, sessions = connect(f"sqlite:///{tmp_path / 'board.db'}")
    run_provision(gh, roster[:10], sessions, [])
    for entry in roster[:3]:
        env.server.add_collaborator(ORG, f"mle-{entry.login}", entry.login)
    env.server.advance_clock(8 * 24 * 3600)
    began, lines = env.server.clock(), []
    made = run_provision(gh, roster, sessions, lines)
    minutes = (env.server.clock() - began).total_seconds() / 60
    per_minute = len(made) / minutes
    figure = (
        f"candidates provisioned per minute under the write limits (simulated clock): "
        f"{per_minute:.2f} ({len(made)} in {minutes:.1f} minutes)"
    )
    print(figure)
    assert made == [f"{ORG}/mle-{e.login}" for e in roster], figure
    refused = [r for r in env.server.requests if r.fault == "write_limit"]
    assert refused == [], figure
    assert minutes > 60, figure  # about 560 writes: past the 500 an hour, waited out
    rows = candidates(sessions)
    states = [rows[e.login].invitation for e in roster]
    assert states == ["accepted"] * 3 + ["pending"] * 97, figure
    assert all(rows[e.login].template_commit for e in roster), figure
    assert sum("invited again" in line for line in lines) == 7, figure
    # The duration stated at the start is the one the run took.
    stated = re.fullmatch(
        r"\[provision\] 100 candidates, about 550 writes: about 1 h (\d+) min at GitHub's "
        r"write limits",
        lines[0],
    )
    assert stated and abs(60 + int(stated[1]) - minutes) < 3, (lines[0], figure)
