"""A deadline that holds, on the GitHub-shaped server: when a window closes the candidate's
permission drops to read and a real `git push` over HTTP is refused; an extension gives write
access back and the push is accepted again. GitHub's other answers: an organisation owner
keeps admin (recorded as a failure and shown on the board), a base role above read is a 422,
and someone who left is not invited back. Time runs on the server's movable clock, with the
board service's one-minute interval; the longest time from a close to the loss of write access
is printed."""

from __future__ import annotations

import itertools
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from boardseed import HTTPS, PASSWORD, add_candidate, signed_in
from fakegithub.gitclient import git
from github import Auth, Github
from github_env import ORG, make_env
from sqlalchemy import select

from mle_assess import TEMPLATE_DIR
from mle_assess.board import create_app
from mle_assess.board.auth import add_user
from mle_assess.db import Assessment, Candidate, connect
from mle_assess.github import deadline
from mle_assess.github import sweep as sweeping
from mle_assess.github.gateway import Gateway

PROJECT = Path(__file__).resolve().parents[1]
_clones = itertools.count()


@dataclass
class World:
    """The server with our App on the organisation, candidates who can push to their
    repositories, and the board's database with their windows."""

    server: object
    gh: Gateway  # the App's installation, on the server's clock
    admin: Gateway  # the organisation owner's token: to look without acting as the App
    sessions: object
    db_url: str
    tmp: Path
    tokens: dict[str, str]
    admin_token: str
    app: object  # the App's credentials, for the command line

    def add(self, login: str, deadline_at: datetime, *, collaborator: bool = True) -> int:
        """A candidate whose window closes at `deadline_at`, with their repository."""
        self.tokens[login] = self.server.add_user(login)
        self.server.create_repo(ORG, f"mle-{login}", files={"NOTES.md": "start\n"})
        if collaborator:
            self.server.add_collaborator(ORG, f"mle-{login}", login, "push")
        with self.sessions.begin() as s:
            assessment = s.scalar(select(Assessment)) or Assessment(name="r", version="1")
            s.add(assessment)
            s.flush()
            started = deadline_at - timedelta(minutes=90)
            return add_candidate(s, assessment.id, login.title(), login, started).id

    def candidate(self, candidate_id: int) -> Candidate:
        with self.sessions() as s:
            return s.get(Candidate, candidate_id)

    def push(self, login: str, text: str) -> subprocess.CompletedProcess:
        """The candidate's real `git push` over HTTP with their own token."""
        work = self.tmp / f"clone-{next(_clones)}"
        url = self.server.clone_url(ORG, f"mle-{login}", self.tokens[login])
        git("clone", "--quiet", url, str(work))
        (work / "NOTES.md").write_text(text)
        git("commit", "--quiet", "-am", text, cwd=work)
        return git("push", "origin", "HEAD:main", cwd=work, check=False)

    def role(self, login: str) -> str:
        return self.admin.collaborator_permission(f"{ORG}/mle-{login}", login)


@pytest.fixture
def world(github_server, tmp_path) -> World:
    env = make_env(github_server)
    clocked = {"sleep": github_server.advance_clock, "clock": github_server.clock}
    gh = Gateway(env.creds, env.policy(), **clocked).for_installation(ORG)
    admin = env.token_gateway(env.admin_token)
    db_url = f"sqlite:///{tmp_path / 'board.db'}"
    _, sessions = connect(db_url)
    return World(github_server, gh, admin, sessions, db_url, tmp_path, {}, env.admin_token, env.app)


def service_round(world: World, now: datetime | None = None) -> list[str]:
    """One round of the board service's access check."""
    said: list[str] = []
    deadline.enforce_access(world.sessions, world.gh, now or world.server.clock(), said.append)
    return said


def test_a_closed_window_refuses_git_push_and_an_extension_lets_it_in_again(world):
    """Candidates whose windows close at different moments between two rounds of the service
    all lose write access at the first round after the close; a push is then refused. The
    figure: the longest time from a close to the loss of write access."""
    start = world.server.clock()
    offsets = [0.001, 1, 30, 59.9]  # seconds after the round at `start`
    ids = {f"cand{i}": world.add(f"cand{i}", start + timedelta(seconds=o)) for i, o in
           enumerate(offsets)}  # fmt: skip
    assert world.push("cand0", "inside the window").returncode == 0

    service_round(world, start)  # every window is still open: nothing changes
    assert {login: world.role(login) for login in ids} == dict.fromkeys(ids, "write")
    assert all(world.candidate(i).access == "" for i in ids.values())

    world.server.advance_clock(deadline.EVERY.total_seconds())
    said = service_round(world)
    lost_at = world.server.clock()  # the round's calls included, on the server's clock
    lockouts = []
    for login, candidate_id in ids.items():
        candidate = world.candidate(candidate_id)
        assert (candidate.access, candidate.access_error) == ("read", None), said
        assert world.role(login) == "read"
        lockouts.append(lost_at - candidate.deadline.replace(tzinfo=lost_at.tzinfo))
    refused = world.push("cand0", "after the close")
    assert refused.returncode != 0 and "denied" in refused.stderr

    longest = max(lockouts)
    print(
        f"\nlongest time from a window's close to the loss of write access: "
        f"{longest.total_seconds():.1f} s (board service every "
        f"{deadline.EVERY.total_seconds():.0f} s; closes at {offsets} s after a round)"
    )
    assert timedelta(0) < longest <= deadline.EVERY + timedelta(seconds=30)

    # An extension (as `extend` and the admin route do): write access is back next round.
    with world.sessions.begin() as s:
        sweeping.extend(s, f"{ORG}/mle-cand0", 30)
    service_round(world)
    assert world.candidate(ids["cand0"]).access == "write"
    assert world.role("cand0") == "write"
    assert world.push("cand0", "inside the extension").returncode == 0
    # The others' windows were not extended: still read-only, and no call was made for them.
    assert [world.role(f"cand{i}") for i in (1, 2, 3)] == ["read"] * 3


def test_a_quiet_round_asks_nothing_of_github(world):
    """Once access matches the window, a round is one database query and no request."""
    start = world.server.clock()
    world.add("quiet", start - timedelta(minutes=5))
    service_round(world)
    before = len(world.server.requests)
    assert service_round(world) == []
    assert len(world.server.requests) == before


def test_github_unavailable_for_now_is_asked_again_at_the_next_round(world):
    """An outage of GitHub (5xx past the retries) is not a refusal: nothing is recorded, and
    the next round, a minute on, tries again and drops the candidate to read."""
    start = world.server.clock()
    candidate_id = world.add("cand", start - timedelta(seconds=1))
    world.server.inject(kind="502", method="PUT", path=r"/collaborators/cand$", times=10)
    said = service_round(world)
    assert "could not be asked" in " ".join(said)
    row = world.candidate(candidate_id)
    assert row.access == "" and row.access_at is None  # not recorded as a failure
    world.server.clear_faults()
    world.server.advance_clock(deadline.EVERY.total_seconds())
    service_round(world)
    row = world.candidate(candidate_id)
    assert row.access == "read" and world.role("cand") == "read"


def test_an_organisation_owner_keeps_admin_and_the_board_shows_it(world):
    """An owner is an admin of every repository whatever the call says: recorded as a failure
    with the reason, shown on the candidate's page and in the list, tried again only after
    RETRY_FAILED (not every minute)."""
    start = world.server.clock()
    candidate_id = world.add("boss", start - timedelta(seconds=1))
    world.server.add_org_member(ORG, "boss", role="admin")
    said = service_round(world)
    candidate = world.candidate(candidate_id)
    assert candidate.access == "failed"
    assert "organisation owner" in candidate.access_error, said
    assert world.role("boss") == "admin"
    assert world.push("boss", "still pushing").returncode == 0

    puts = len(world.server.requests_matching("PUT", "/collaborators/boss"))
    world.server.advance_clock(deadline.EVERY.total_seconds())
    service_round(world)
    assert len(world.server.requests_matching("PUT", "/collaborators/boss")) == puts
    world.server.advance_clock(deadline.RETRY_FAILED.total_seconds())
    service_round(world)
    assert len(world.server.requests_matching("PUT", "/collaborators/boss")) == puts + 1

    app = create_app(world.db_url, secret_key="k", github_web="https://github.example.test")
    with world.sessions.begin() as s:
        add_user(s, "recruiter", PASSWORD, "recruiter")
    client = signed_in(app, "recruiter")
    page = client.get(f"/candidates/{candidate_id}", **HTTPS)
    assert page.status_code == 200
    assert "Repository access could not be changed" in page.text
    assert "organisation owner" in page.text
    listing = client.get("/", **HTTPS)
    assert "access_failed" in listing.text


def test_a_base_role_above_read_is_a_422_recorded_as_a_failure(world):
    """A member of an organisation whose base role is write cannot be given read (GitHub
    answers 422): the failure says so, and the candidate can still push."""
    start = world.server.clock()
    candidate_id = world.add("member", start - timedelta(seconds=1))
    world.server.add_org_member(ORG, "member")
    world.server.set_base_permission(ORG, "write")
    service_round(world)
    candidate = world.candidate(candidate_id)
    assert candidate.access == "failed"
    assert "base role" in candidate.access_error
    assert world.server.requests_matching("PUT", "/collaborators/member")[-1].status == 422
    assert world.role("member") == "write"


def test_a_candidate_who_left_is_not_invited_back(world):
    """Someone who is no longer a collaborator gets a 201 and an invitation from the call;
    the invitation is withdrawn, so leaving is no way back in."""
    start = world.server.clock()
    candidate_id = world.add("gone", start - timedelta(seconds=1))
    owner = pygithub(world, world.admin_token)
    owner.get_repo(f"{ORG}/mle-gone").remove_from_collaborators("gone")
    service_round(world)
    assert world.server.requests_matching("PUT", "/collaborators/gone")[-1].status == 201
    assert world.gh.invitations(f"{ORG}/mle-gone") == []
    candidate = world.candidate(candidate_id)
    assert (candidate.access, candidate.access_error) == ("read", None)
    assert world.role("gone") == "none"


def test_the_admin_extension_gives_write_back_at_once(world):
    """The board's extension route restores write access itself when the board has a
    gateway, and says so."""
    start = world.server.clock()
    candidate_id = world.add("late", start - timedelta(minutes=2))
    service_round(world)
    assert world.role("late") == "read"
    app = create_app(world.db_url, secret_key="k", github_web="https://github.example.test")
    app.extensions["mle_assess_gateway"] = world.gh
    with world.sessions.begin() as s:
        add_user(s, "admin", PASSWORD, "admin")
    client = signed_in(app, "admin")
    page = client.get(f"/candidates/{candidate_id}", **HTTPS)
    assert "read-only since" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = client.post(
        f"/admin/candidates/{candidate_id}/extend",
        data={"minutes": "30", "csrf_token": token},
        follow_redirects=True,
        **HTTPS,
    )
    assert "Write access to the repository is restored." in done.text
    assert world.candidate(candidate_id).access == "write"
    assert world.role("late") == "write"
    assert world.push("late", "after the extension").returncode == 0


def test_without_a_database_sweep_drops_a_closed_window_to_read(world):
    """`sweep`/`finalize` without a board: the window from the events API's MemberEvent, and a
    candidate who can still push after its close is dropped to read (one read otherwise)."""
    world.tokens["solo"] = world.server.add_user("solo")
    world.server.create_repo(ORG, "mle-solo", files={"NOTES.md": "start\n"})
    world.gh.set_collaborator_permission(f"{ORG}/mle-solo", "solo", "push")  # an invitation
    accept(world, "solo")  # through the API: GitHub records a MemberEvent
    repo = f"{ORG}/mle-solo"

    # The events API lags (5 minutes on this server): the window is not known yet, and an
    # unknown window is never closed.
    times = sweeping.times_from_github(world.gh, repo, "solo", world.server.clock())
    assert times.window is None
    world.server.advance_clock(world.server.events_lag_seconds + 1)
    times = sweeping.times_from_github(world.gh, repo, "solo", world.server.clock())
    assert times.window is not None and not times.window.is_closed(world.server.clock())
    world.server.advance_clock(90 * 60)
    now = world.server.clock()
    times = sweeping.times_from_github(world.gh, repo, "solo", now)
    assert times.window.is_closed(now)
    outcome = deadline.enforce_closed(world.gh, repo, "solo")
    assert outcome is not None and outcome.state == "read"
    assert world.push("solo", "too late").returncode != 0
    assert deadline.enforce_closed(world.gh, repo, "solo") is None  # nothing more to do


def pygithub(world: World, token: str) -> Github:
    return Github(base_url=world.server.api_url, auth=Auth.Token(token), retry=None)


def cli_env(world: World, **extra: str) -> dict[str, str]:
    """The environment `mle-assess sweep` runs with in sweep.yml: our App, on the server."""
    return {
        "MLE_ASSESS_GITHUB_API": world.server.api_url,
        "MLE_ASSESS_APP_ID": str(world.app.id),
        "MLE_ASSESS_APP_PRIVATE_KEY": world.app.private_key_pem,
        "MLE_ASSESS_GITHUB_PACING": "off",
        "MLE_ASSESS_ORG": ORG,
        "MLE_ASSESS_ASSESSMENT_REPO": f"{ORG}/assessment",
        **extra,
    }


def accept(world: World, login: str) -> None:
    user = pygithub(world, world.tokens[login]).get_user()
    for invitation in user.get_invitations():
        user.accept_invitation(invitation)


def test_the_candidate_readme_gives_the_bound():
    """The README promises read-only access within the board's interval, or at the sweep's
    schedule (which GitHub may start late), with the values the code and sweep.yml use."""
    text = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    rule = re.search(r"\*\*Read-only after the deadline\.\*\*(.*?)(?=\n- \*\*|\n\n)", text, re.S)
    assert rule, "the README's rules say nothing of read-only access after the deadline"
    said = " ".join(rule.group(1).split())
    assert f"within {deadline.EVERY.total_seconds() / 60:.0f} minute" in said
    assert f"every {deadline.SWEEP_EVERY.total_seconds() / 60:.0f} minutes" in said
    assert "late" in said  # GitHub documents scheduled runs as possibly delayed
    sweep_yml = (PROJECT / ".github" / "workflows" / "sweep.yml").read_text(encoding="utf-8")
    minutes = deadline.SWEEP_EVERY.total_seconds() / 60
    assert f'cron: "*/{minutes:.0f} * * * *"' in sweep_yml


def test_the_sweep_command_without_a_database_closes_the_door(world, monkeypatch):
    """`mle-assess sweep` with no database, as sweep.yml runs it: the candidate accepted 91
    minutes ago (the server's clock moved back for the acceptance, so that the command's own
    clock sees the window closed), and the command drops them to read and says so."""
    from click.testing import CliRunner

    from mle_assess.cli import main

    grade_yml = (PROJECT / ".github" / "workflows" / "grade.yml").read_text(encoding="utf-8")
    world.server.create_repo(ORG, "assessment", files={".github/workflows/grade.yml": grade_yml})
    world.tokens["past"] = world.server.add_user("past")
    world.server.create_repo(ORG, "mle-past", files={"NOTES.md": "start\n"})
    world.gh.set_collaborator_permission(f"{ORG}/mle-past", "past", "push")
    world.server.events_lag_seconds = 30  # GitHub's least lag
    world.server.advance_clock(-91 * 60)
    accept(world, "past")
    world.server.advance_clock(91 * 60)
    env = cli_env(world)
    monkeypatch.delenv("MLE_ASSESS_DB", raising=False)
    done = CliRunner().invoke(main, ["sweep"], env=env)
    assert done.exit_code == 0, done.output
    assert f"{ORG}/mle-past: the window has closed; access read" in done.output
    assert world.role("past") == "read"
    again = CliRunner().invoke(main, ["finalize"], env=env)
    assert again.exit_code == 0, again.output
    assert "access" not in again.output  # nothing more to change: one read, no write


def test_the_sweep_command_takes_the_template_from_the_board_or_waits_for_it(world, monkeypatch):
    """`mle-assess sweep` as sweep.yml runs it beside a board: each dispatch carries the
    template commit the board recorded; while the board cannot answer, the push waits for the
    next sweep instead of being graded against today's template."""
    import socket
    import threading

    from click.testing import CliRunner
    from werkzeug.serving import make_server

    from mle_assess.board.api import new_token
    from mle_assess.cli import main

    grade_yml = (PROJECT / ".github" / "workflows" / "grade.yml").read_text(encoding="utf-8")
    world.server.create_repo(ORG, "assessment", files={".github/workflows/grade.yml": grade_yml})
    candidate_id = world.add("now", world.server.clock() + timedelta(minutes=60))
    assert world.push("now", "my work").returncode == 0
    given = "3" * 40
    with world.sessions.begin() as s:
        s.get(Candidate, candidate_id).template_commit = given
        token = new_token(s, "sweep")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens there once the probe is closed
    env = cli_env(
        world,
        MLE_ASSESS_BOARD_URL=f"http://127.0.0.1:{closed}",
        MLE_ASSESS_BOARD_TOKEN=token,
    )
    monkeypatch.delenv("MLE_ASSESS_DB", raising=False)
    down = CliRunner().invoke(main, ["sweep"], env=env)
    assert down.exit_code == 0, down.output
    assert f"{ORG}/mle-now: not dispatched (the board could not be asked" in down.output
    assert world.server.dispatches == []
    board = make_server("127.0.0.1", 0, create_app(world.db_url, secret_key="k"), threaded=True)
    thread = threading.Thread(target=board.serve_forever, daemon=True)
    thread.start()
    try:
        env["MLE_ASSESS_BOARD_URL"] = f"http://127.0.0.1:{board.server_port}"
        up = CliRunner().invoke(main, ["sweep"], env=env)
    finally:
        board.shutdown()
        thread.join()
    assert up.exit_code == 0, up.output
    (dispatch,) = world.server.dispatches
    assert dispatch["inputs"]["repo"] == f"{ORG}/mle-now"
    assert dispatch["inputs"]["template_ref"] == given


def test_the_extend_command_gives_write_back_with_the_app(world):
    """`mle-assess extend` with the App in the environment restores write access at once."""
    from click.testing import CliRunner

    from mle_assess.cli import main

    candidate_id = world.add("ext", world.server.clock() - timedelta(minutes=1))
    service_round(world)
    assert world.role("ext") == "read"
    env = cli_env(world)
    args = ["extend", f"{ORG}/mle-ext", "--minutes", "20", "--db", world.db_url]
    done = CliRunner().invoke(main, args, env=env)
    assert done.exit_code == 0, done.output
    assert "repository access: write" in done.output
    assert world.candidate(candidate_id).access == "write"
    assert world.push("ext", "in the extra minutes").returncode == 0
