"""Push times without a board come from the repository activity API, on the GitHub-shaped
server with the events API lagging by hours: pushes, force pushes and merges to main are
timed by GitHub's own `timestamp`, our App's pushes are left out, the window opens at the
MemberEvent's own time however late it shows (so it never closes early), and the final score
is asked for the last push inside the window. With the board, `reconcile_pushes` records the
pushes no webhook brought, with their activity time, and asks for their grading once."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from boardseed import add_candidate
from fakegithub.gitclient import git as run_git
from github import Auth, Github
from github_env import ORG, make_env
from sqlalchemy import select

from mle_assess.db import Assessment, Candidate, GradingRequest, Submission, connect
from mle_assess.github import deadline
from mle_assess.github import sweep as sweeping
from mle_assess.github.gateway import Gateway

LAG = 4 * 3600  # the events API's lag in these tests: hours, as GitHub documents it can be
REPO = f"{ORG}/mle-cand"
_clones = itertools.count()


def git(*args: str, cwd: Path | None = None) -> str:
    """git as the candidate runs it; its output."""
    return run_git(*args, cwd=cwd).stdout


class Setting:
    """The server (events lagging by LAG), our App, and a candidate with a repository."""

    def __init__(self, server, tmp: Path) -> None:
        self.server, self.tmp = server, tmp
        server.events_lag_seconds = LAG
        self.env = make_env(server)
        clocked = {"sleep": server.advance_clock, "clock": server.clock}
        self.gh = Gateway(self.env.creds, self.env.policy(), **clocked).for_installation(ORG)
        self.token = server.add_user("cand")
        server.create_repo(ORG, "mle-cand", files={"NOTES.md": "start\n"})
        self.dispatched: list[tuple[str, str, bool]] = []

    def invite_and_accept(self) -> datetime:
        """The invitation, accepted through the API (GitHub records a MemberEvent); returns
        the server's time of the acceptance."""
        assert self.gh.set_collaborator_permission(REPO, "cand", "push") is not None
        user = Github(base_url=self.server.api_url, auth=Auth.Token(self.token), retry=None)
        before = self.server.clock()
        for invitation in user.get_user().get_invitations():
            user.get_user().accept_invitation(invitation)
        return before

    def push(self, text: str, *, force_to: str | None = None) -> tuple[str, datetime]:
        """A real `git push` by the candidate; its SHA and the server's time just before."""
        work = self.tmp / f"clone-{next(_clones)}"
        git("clone", "--quiet", self.server.clone_url(ORG, "mle-cand", self.token), str(work))
        if force_to:
            git("reset", "--quiet", "--hard", force_to, cwd=work)
        else:
            (work / "NOTES.md").write_text(text)
            git("commit", "--quiet", "-am", text, cwd=work)
        at = self.server.clock()
        git("push", "--quiet", "--force", "origin", "HEAD:main", cwd=work)
        return git("rev-parse", "HEAD", cwd=work).strip(), at

    def dispatch(self, repo: str, sha: str, final: bool = False) -> None:
        self.dispatched.append((repo, sha, final))


@pytest.fixture
def setting(github_server, tmp_path) -> Setting:
    return Setting(github_server, tmp_path)


def near(moment: datetime, at: datetime) -> bool:
    """A push's recorded time is GitHub's moment of the push, to the second."""
    return at - timedelta(seconds=1) <= moment <= at + timedelta(seconds=5)


def test_push_times_come_from_the_activity_api_while_events_lag_hours(setting):
    server, gh = setting.server, setting.gh
    accepted = setting.invite_and_accept()
    gh.put_file(REPO, "START.md", "started\n", "Start", "main")  # our App's push: not theirs
    server.advance_clock(10 * 60)
    first, first_at = setting.push("first")
    server.advance_clock(70 * 60)
    official, official_at = setting.push("official")  # 80 minutes in: inside the window
    server.advance_clock(15 * 60)
    late, late_at = setting.push("late")  # 95 minutes in: after the close

    now = server.clock()
    times = sweeping.times_from_github(gh, REPO, "cand", now)
    assert [p.sha for p in times.pushes] == [first, official, late]
    for push, at in zip(times.pushes, (first_at, official_at, late_at), strict=True):
        assert near(push.pushed_at, at)
    assert gh.push_events(REPO) == []  # the events API shows none of it yet
    # The acceptance is not visible yet either: the window is unknown, so nothing is final
    # and nobody is locked out early.
    assert times.window is None
    assert sweeping.finalize_one(gh, times, setting.dispatch, now) is None
    assert gh.collaborator_permission(REPO, "cand") == "write"

    server.advance_clock(LAG)  # the MemberEvent shows, with its own (right) time
    now = server.clock()
    times = sweeping.times_from_github(gh, REPO, "cand", now)
    assert times.window is not None and near(times.window.opened_at, accepted)
    assert times.window.is_closed(now)
    # The final score is asked for the last push inside the window, not the late one.
    assert sweeping.finalize_one(gh, times, setting.dispatch, now) == official
    assert setting.dispatched == [(REPO, official, True)]
    # And the door closes at this first sweep that knows the window: within the bound the
    # module states (max(window, events lag) after the acceptance, plus the sweep interval).
    outcome = deadline.enforce_closed(gh, REPO, "cand")
    assert outcome is not None and outcome.state == "read"
    bound = max(timedelta(minutes=90), sweeping.EVENTS_LAG) + deadline.SWEEP_EVERY
    assert now - accepted <= bound


def test_a_force_push_and_a_merge_on_main_count_as_pushes(setting):
    server, gh = setting.server, setting.gh
    setting.invite_and_accept()
    first, _ = setting.push("first")
    second, _ = setting.push("second")
    server.advance_clock(60)
    back, back_at = setting.push("", force_to=first)  # main is `first` again, as of now
    assert back == first
    times = sweeping.times_from_github(gh, REPO, "cand", server.clock())
    assert [p.sha for p in times.pushes] == [first, second, first]
    assert near(times.pushes[-1].pushed_at, back_at)

    # A pull request merged into main on GitHub: a `pr_merge` activity.
    work = setting.tmp / "merge"
    git("clone", "--quiet", server.file_url(ORG, "mle-cand"), str(work))
    (work / "NOTES.md").write_text("merged\n")
    git("commit", "--quiet", "-am", "Merge pull request #2", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    server.notice_push(ORG, "mle-cand", "cand", activity_type="pr_merge")
    merged = git("rev-parse", "HEAD", cwd=work).strip()
    types = {a["after"]: a["activity_type"] for a in gh.repo_activity(REPO)}
    assert types[merged] == "pr_merge"
    pushes = sweeping.activity_pushes(gh, REPO)
    assert pushes[-1].sha == merged


def test_without_a_member_event_the_window_opens_at_the_first_push_once_it_cannot_be_late(
    setting,
):
    """A collaborator whose MemberEvent never shows (gone from the 300 events kept): the
    window is unknown while the event could still be lagging, then opens at their first push,
    never earlier than the true opening."""
    server, gh = setting.server, setting.gh
    server.add_collaborator(ORG, "mle-cand", "cand", "push")  # no event recorded
    first, first_at = setting.push("first")
    server.advance_clock(3600)
    assert sweeping.times_from_github(gh, REPO, "cand", server.clock()).window is None
    server.advance_clock(sweeping.EVENTS_LAG.total_seconds())
    times = sweeping.times_from_github(gh, REPO, "cand", server.clock())
    assert times.window is not None
    assert times.window.opened_at == times.pushes[0].pushed_at
    assert near(times.window.opened_at, first_at)


def board(setting: Setting, tmp: Path, started: datetime) -> tuple[object, int]:
    _, sessions = connect(f"sqlite:///{tmp / 'board.db'}")
    with sessions.begin() as s:
        assessment = Assessment(name="r", version="1")
        s.add(assessment)
        s.flush()
        candidate_id = add_candidate(s, assessment.id, "Cand", "cand", started, repo=REPO).id
    return sessions, candidate_id


def test_reconcile_records_the_pushes_no_webhook_brought_and_grades_them_once(setting, tmp_path):
    """No webhook reaches the board (none is configured): the activity API's pushes are
    recorded with GitHub's times, the first is dispatched and the newest waits (as the queue
    does for webhooks), our App's push is not a submission, and a second round adds nothing."""
    server, gh = setting.server, setting.gh
    sessions, candidate_id = board(setting, tmp_path, server.clock())
    server.add_collaborator(ORG, "mle-cand", "cand", "push")
    gh.put_file(REPO, "START.md", "started\n", "Start", "main")
    first, first_at = setting.push("first")
    server.advance_clock(120)
    second, second_at = setting.push("second")

    said: list[str] = []
    found = sweeping.reconcile_pushes(
        sessions, gh, lambda r, s: setting.dispatch(r, s), server.clock(), said.append
    )
    assert found == [(REPO, first), (REPO, second)], said
    with sessions() as s:
        stored = {x.sha: x for x in s.scalars(select(Submission))}
        requests = {r.sha: r.state for r in s.scalars(select(GradingRequest))}
        candidate = s.get(Candidate, candidate_id)
        assert candidate.status == "in progress"
    assert set(stored) == {first, second}
    assert near(stored[first].pushed_at.replace(tzinfo=first_at.tzinfo), first_at)
    assert near(stored[second].pushed_at.replace(tzinfo=second_at.tzinfo), second_at)
    assert requests == {first: "dispatched", second: "waiting"}
    assert setting.dispatched == [(REPO, first, False)]

    again = sweeping.reconcile_pushes(sessions, gh, setting.dispatch, server.clock())
    assert again == []
    assert setting.dispatched == [(REPO, first, False)]

    # Given a Session, the caller's transaction is used.
    third, _ = setting.push("third")
    with sessions.begin() as s:
        assert sweeping.reconcile_pushes(s, gh, setting.dispatch, server.clock()) == [(REPO, third)]
    with sessions() as s:
        assert third in {x.sha for x in s.scalars(select(Submission))}


def test_reconcile_leaves_windows_closed_past_the_grace(setting, tmp_path):
    """After FINALIZE_GRACE the finalizer has decided: the activity API is not asked."""
    server, gh = setting.server, setting.gh
    long_ago = server.clock() - timedelta(minutes=90) - sweeping.FINALIZE_GRACE - timedelta(1)
    sessions, _ = board(setting, tmp_path, long_ago)
    server.add_collaborator(ORG, "mle-cand", "cand", "push")
    setting.push("very late")
    asked = len(server.requests_matching("GET", "/activity"))
    assert sweeping.reconcile_pushes(sessions, gh, setting.dispatch, server.clock()) == []
    assert len(server.requests_matching("GET", "/activity")) == asked
    assert sweeping.activity_pushes(gh, REPO)  # it is there, had it been asked
    assert len(server.requests_matching("GET", "/activity")) == asked + 1
