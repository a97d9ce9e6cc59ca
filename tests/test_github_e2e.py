"""End to end on the GitHub-shaped server: provision three candidates, they accept and push
real commits, signed webhooks reach the board's receiver and dispatch grade.yml, and each
dispatch runs the workflow's own script (fetch, grade in the sandbox, report). Then, through
PyGithub: our App's check runs, one sticky comment per pull request, and candidate-facing text
that follows the feedback policy. Also the deadline: late pushes, late-finishing runs, and
finalize."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fakegithub.gitclient import git as run_git
from github import Auth, Github
from github_env import ORG, TEAM, make_env
from sqlalchemy import select
from werkzeug.serving import make_server

from hidden_tests import CANARY
from mle_assess import PROJECT_ROOT, TEMPLATE_DIR
from mle_assess.board import create_app
from mle_assess.board.api import new_token
from mle_assess.board.service import board_jobs
from mle_assess.db import Candidate, GradingRequest, Submission, connect
from mle_assess.github import post as posting
from mle_assess.github import queue
from mle_assess.github import sweep as sweeping
from mle_assess.github.provision import Entry, provision, publish_template

pytestmark = pytest.mark.slow

SECRET = "e2e-webhook-secret"
TEMPLATE = f"{ORG}/mle-template"
ASSESSMENT = f"{ORG}/assessment"
SCRIPT = PROJECT_ROOT / ".github" / "scripts" / "grade-job.sh"
CLI = Path(os.environ.get("VIRTUAL_ENV", PROJECT_ROOT / ".venv")) / "bin" / "mle-assess"
PEOPLE = {"alice": "reference", "bob": "quiz_only", "cy": "m4_round2"}
GRADE_YML = (PROJECT_ROOT / ".github" / "workflows" / "grade.yml").read_text()


def git(*args: str, cwd: Path | None = None) -> str:
    """git as the candidate runs it; its output."""
    return run_git(*args, cwd=cwd).stdout


class Stack:
    """The server, our App, the board's webhook receiver and database, and the candidates."""

    def __init__(self, server, tmp_path: Path, samples: dict[str, Path]) -> None:
        self.server, self.tmp, self.samples = server, tmp_path, samples
        self.env = make_env(server)
        self.tokens = {login: server.add_user(login) for login in PEOPLE}
        # The real grade.yml: the server checks each dispatch against its inputs.
        server.create_repo(ORG, "assessment", files={".github/workflows/grade.yml": GRADE_YML})
        self.bot = self.env.bot()
        # A new organisation: the template repository does not exist yet.
        self.template_commits = [publish_template(self.bot, TEMPLATE, echo=lambda _: None)]
        _, self.sessions = connect(f"sqlite:///{tmp_path / 'board.db'}")
        provision(
            self.bot,
            [Entry(login.title(), login) for login in PEOPLE],
            org=ORG,
            template=TEMPLATE,
            team=TEAM,
            prefix="mle-",
            sessions=self.sessions,
            assessment="round-1",
            echo=lambda _: None,
        )
        # The board itself, as `mle-assess board` makes it: the webhook receiver mounted, the
        # results API that the report job posts to, and the queue released on each result.
        app = create_app(
            f"sqlite:///{tmp_path / 'board.db'}",
            secret_key="e2e",
            webhook_secret=SECRET,
            dispatch=queue.workflow_dispatcher(
                self.bot, ASSESSMENT, templates=queue.template_commits(self.sessions)
            ),
            bot_login=self.bot.login(),
            clock=server.clock,
        )
        self.process = app.extensions["mle_assess_process_deliveries"]
        with self.sessions.begin() as session:
            self.board_token = new_token(session, "grade workflow")
        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()
        # The App's own webhook, as the README sets it up: its deliveries can be listed and
        # redelivered.
        server.set_app_webhook(
            self.env.app.id,
            f"http://127.0.0.1:{self.http.server_port}/webhooks/github",
            secret=SECRET,
            events=("push", "member"),
        )
        self.ran: set[tuple[str, str, bool]] = set()
        self.results: dict[tuple[str, str, bool], Path] = {}
        self.jobs = 0

    def close(self) -> None:
        self.http.shutdown()
        self.thread.join()

    def candidate(self, login: str) -> Github:
        return Github(base_url=self.server.api_url, auth=Auth.Token(self.tokens[login]), retry=None)

    def accept(self, login: str) -> None:
        user = self.candidate(login).get_user()
        for invitation in user.get_invitations():
            user.accept_invitation(invitation)
        self.deliver()

    def deliver(self) -> None:
        """Wait for GitHub's deliveries, then do what the board service does next: process
        what the receiver stored."""
        self.server.deliveries_wait()
        self.process(self.server.clock(), lambda _: None)

    def push(self, login: str, sample: str, message: str, keep: tuple[str, ...] = ()) -> str:
        """Clone the candidate's repository, lay `sample` over it (but for the files in
        `keep`, left as the repository has them), commit, and push."""
        work = self.tmp / f"clone-{login}-{len(os.listdir(self.tmp))}"
        url = self.server.clone_url(ORG, f"mle-{login}", self.tokens[login])
        git("clone", "--quiet", url, str(work))
        for item in self.samples[sample].iterdir():
            target = work / item.name
            if item.is_dir():
                shutil.copytree(item, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(item, target)
        if keep:
            git("checkout", "HEAD", "--", *keep, cwd=work)
        (work / "NOTES.md").write_text(f"{message}\n")
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "-m", message, cwd=work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)
        self.deliver()
        return git("rev-parse", "HEAD", cwd=work).strip()

    def job_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MLE_ASSESS_CMD": str(CLI),
            "MLE_ASSESS_GITHUB_API": self.server.api_url,
            "MLE_ASSESS_APP_ID": str(self.env.app.id),
            "MLE_ASSESS_APP_PRIVATE_KEY": self.env.app.private_key_pem,
            "MLE_ASSESS_GITHUB_PACING": "off",
            "MLE_ASSESS_ORG": ORG,
            "MLE_ASSESS_ASSESSMENT_REPO": ASSESSMENT,
            "MLE_ASSESS_TEMPLATE_REPO": TEMPLATE,
            "MLE_ASSESS_OUTBOX": str(self.tmp / "outbox"),
            "GITHUB_STEP_SUMMARY": str(self.tmp / "summary.md"),
            "MLE_ASSESS_WORK_DIR": str(self.tmp),
            "MLE_ASSESS_BOARD_URL": f"http://127.0.0.1:{self.http.server_port}",
            "MLE_ASSESS_BOARD_TOKEN": self.board_token,
        }

    def run_job(self, repo: str, sha: str, final: bool = False, template_ref: str = "") -> Path:
        """What grade.yml does for one dispatch: the same script, step by step. Returns the
        results folder."""
        self.jobs += 1
        work = self.tmp / f"job-{self.jobs}-{sha[:8]}-{int(final)}"
        env = self.job_env() | ({"FINAL": "true"} if final else {})
        script(env, "fetch", repo, sha, str(work / "snapshot"), template_ref)
        script(
            env,
            "grade",
            str(work / "snapshot" / "snapshot.tar"),
            str(work / "results"),
            template_ref,
        )
        script(env, "report", str(work / "results"), repo, sha)
        return work / "results"

    def run_dispatches(self) -> int:
        """Run every dispatch not run yet; returns how many ran."""
        count = 0
        for d in self.server.dispatches:
            inputs = d["inputs"]
            key = (inputs["repo"], inputs["sha"], inputs.get("final") == "true")
            if (
                d["repo"] == ASSESSMENT
                and d["workflow"].endswith("grade.yml")
                and key not in self.ran
            ):
                self.ran.add(key)
                self.results[key] = self.run_job(*key, inputs.get("template_ref", ""))
                count += 1
        return count


def script(env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"grade-job.sh {args[0]} failed:\n{proc.stderr[-3000:]}"


@pytest.fixture
def stack(github_server, tmp_path, samples):
    built = Stack(github_server, tmp_path, samples)
    yield built
    built.close()


def stickies(stack: Stack, repo: str) -> list[dict]:
    number = stack.bot.find_pull(repo, "main", "feedback")
    return [c for c in stack.bot.comments(repo, number) if posting.MARKER in c["body"]]


def test_three_candidates_pushed_graded_and_reported(stack):
    for login in PEOPLE:
        stack.accept(login)
    shas = {login: stack.push(login, sample, "my work") for login, sample in PEOPLE.items()}
    pushes = [d for d in stack.server.deliveries if d.event == "push"]
    # The receiver stored each delivery and answered at once; the service processed them.
    assert [d.status for d in pushes] == [202, 202, 202]
    # A replayed delivery (same X-GitHub-Delivery) changes nothing.
    assert stack.server.redeliver(pushes[0].guid).status == 200
    assert len(stack.server.dispatches) == 3
    # Each dispatch names the template commit the candidate's repository was made from.
    (published,) = stack.template_commits
    assert {d["inputs"]["template_ref"] for d in stack.server.dispatches} == {published}
    assert stack.run_dispatches() == 3
    with stack.sessions() as s:
        opened = {c.login: c.started_at for c in s.scalars(select(Candidate))}
        assert all(opened.values())  # each window opened when the invitation was accepted
        requests = {r.sha: r.state for r in s.scalars(select(GradingRequest))}
        assert requests == dict.fromkeys(shas.values(), "dispatched")
        assert s.scalar(select(Submission).where(Submission.sha == shas["alice"])).pushed_at
    titles = {}
    for login, sha in shas.items():
        repo = f"{ORG}/mle-{login}"
        runs = stack.bot.check_runs(repo, sha)
        assert [r["app_id"] for r in runs] == [stack.env.app.id]
        titles[login] = runs[0]["title"]
        (sticky,) = stickies(stack, repo)
        text = sticky["body"] + runs[0]["summary"]
        assert sticky["author"] == stack.env.app.bot_login
        assert "scaled" not in text.lower() and CANARY not in text
        assert "Quiz correctness and scores are shown after the deadline." in text
    assert titles == {
        "alice": "49 of 49 coding checks passed",
        "bob": "0 of 49 coding checks passed",
        "cy": "29 of 49 coding checks passed",
    }
    assert "Scaled score: **600**" in (stack.tmp / "summary.md").read_text()
    for results in stack.results.values():
        data = json.loads((results / "results.json").read_text())
        assert data["extra_data"]["template_ref"] == published
    # The report job posted each result to the board, which shows the official scores.
    with stack.sessions() as s:
        board = {c.login: (c.official_score, c.status) for c in s.scalars(select(Candidate))}
    assert board == {
        "alice": (600, "in progress"),
        "bob": (320, "in progress"),
        "cy": (311, "in progress"),
    }


def test_the_deadline_decides_what_counts(stack):
    """A push after the deadline does not change the official result; a later-finishing run
    of an older push does not take the comment back; finalize grades the last in-window push
    and posts its final score."""
    login, repo = "alice", f"{ORG}/mle-alice"
    # The events API may lag by hours (github-facts.md #6): nothing here may depend on it.
    stack.server.events_lag_seconds = 6 * 3600
    stack.accept(login)
    early = stack.push(login, "quiz_only", "first try")
    inside = stack.push(login, "reference", "finished")
    stack.server.advance_clock(95 * 60)
    # A push between the close and the loss of write access: graded, late, never official.
    late = stack.push(login, "template", "after the deadline")
    # Run the newest first, then the older ones: finishing later must not make them current.
    for sha in (late, inside, early):
        stack.run_job(repo, sha)
    (sticky,) = stickies(stack, repo)
    assert posting.marker(sticky["body"]) == (late, False)
    # The board's times: the webhook receipts (with GitHub's `pushed_at`) and the acceptance.
    with stack.sessions() as s:
        times = sweeping.times_from_db(s.scalar(select(Candidate).where(Candidate.repo == repo)))
    # The activity API, which the sweep reads without a board, agrees on every push.
    assert [p.sha for p in sweeping.activity_pushes(stack.bot, repo)] == [early, inside, late]
    now = times.window.closes_at + sweeping.FINALIZE_GRACE + timedelta(minutes=1)
    too_soon = times.window.closes_at + timedelta(minutes=1)  # pushes may still be arriving
    assert sweeping.finalize_one(stack.bot, times, lambda *a: None, too_soon) is None
    assert sweeping.official(times.pushes, times.window).sha == inside
    dispatched: list[tuple[str, str, bool]] = []
    assert (
        sweeping.finalize_one(stack.bot, times, lambda r, s, f: dispatched.append((r, s, f)), now)
        == inside
    )
    stack.run_job(repo, inside, final=True)
    (final,) = stack.bot.check_runs(repo, inside, posting.FINAL_CHECK_NAME)
    assert final["title"] == "Final score: 600 (200 to 600)"
    (sticky,) = stickies(stack, repo)
    assert posting.marker(sticky["body"]) == (inside, True)
    assert "Scaled score: **600**" in sticky["body"]
    # Once posted, finalize has nothing left to do, and a late push's grading leaves the
    # final result in place.
    assert sweeping.finalize_one(stack.bot, times, lambda *a: dispatched.append(a), now) is None
    stack.run_job(repo, late)
    assert posting.marker(stickies(stack, repo)[0]["body"]) == (inside, True)
    assert stack.bot.check_runs(repo, late, posting.FINAL_CHECK_NAME) == []


def test_finalize_grades_an_official_push_that_was_never_graded(stack):
    login, repo = "bob", f"{ORG}/mle-bob"
    stack.accept(login)
    sha = stack.push(login, "reference", "done")
    stack.server.advance_clock(91 * 60)
    times = sweeping.times_from_github(stack.bot, repo, login)
    now = times.window.closes_at + sweeping.FINALIZE_GRACE + timedelta(minutes=1)
    assert stack.bot.check_runs(repo, sha) == []
    dispatch = sweeping.dispatcher(stack.bot, ASSESSMENT)
    assert sweeping.finalize_one(stack.bot, times, dispatch, now) == sha
    (request,) = [d for d in stack.server.dispatches if d["inputs"].get("final") == "true"]
    assert request["inputs"] == {"repo": repo, "sha": sha, "final": "true"}
    assert stack.run_dispatches() == 2  # the push's own grading, and the final one
    (final,) = stack.bot.check_runs(repo, sha, posting.FINAL_CHECK_NAME)
    assert final["title"] == "Final score: 600 (200 to 600)"


def test_a_check_run_by_another_app_is_not_a_result(stack):
    login, repo = "cy", f"{ORG}/mle-cy"
    stack.accept(login)
    sha = stack.push(login, "reference", "work")
    other = stack.server.add_app("impostor", ORG)
    token = stack.server.installation_token(other.installation_id)
    forged = Github(base_url=stack.server.api_url, auth=Auth.Token(token), retry=None)
    forged.get_repo(repo).create_check_run(
        posting.CHECK_NAME, sha, status="completed", conclusion="success"
    )
    times = sweeping.times_from_github(stack.bot, repo, login)
    dispatched: list = []
    swept = sweeping.sweep_one(
        stack.bot, times, lambda r, s, f: dispatched.append((r, s, f)), times.pushes[-1].pushed_at
    )
    assert swept == sha and dispatched == [(repo, sha, False)]


def test_faults_all_along_the_run_still_deliver_each_result_once(stack):
    """5xx, rate limits, a dropped connection and a slow answer, on the dispatch, the fetch,
    the check runs and the comments: every result still arrives exactly once."""
    server = stack.server
    for login in PEOPLE:
        stack.accept(login)
    server.inject(kind="502", method="POST", path=r"/dispatches$", times=2)
    server.inject(kind="rate_limit", method="POST", path=r"/access_tokens$", seconds=1)
    server.inject(kind="500", method="POST", path=r"/check-runs$", times=2)
    server.inject(kind="drop", method="POST", path=r"/issues/\d+/comments$")
    server.inject(kind="secondary", method="GET", path=r"/pulls$", seconds=1, status=429)
    server.inject(kind="slow", method="GET", path=r"/commits/[0-9a-f]+/check-runs$", seconds=1)
    shas = {login: stack.push(login, "reference", "work") for login in PEOPLE}
    with stack.sessions() as s:
        assert {r.state for r in s.scalars(select(GradingRequest))} == {"dispatched"}
    assert stack.run_dispatches() == 3
    for login, sha in shas.items():
        repo = f"{ORG}/mle-{login}"
        assert len(stack.bot.check_runs(repo, sha)) == 1
        assert len(stickies(stack, repo)) == 1
    assert not list((stack.tmp / "outbox").glob("*.json"))


def test_a_template_changed_after_provisioning_flags_nobody_provisioned_before(stack):
    """A candidate provisioned on an earlier edition of the template (another README and
    check.py), graded after today's was published: compared with what they were given."""
    earlier = stack.tmp / "template-then"
    shutil.copytree(TEMPLATE_DIR, earlier)
    for name in ("README.md", "check.py"):
        (earlier / name).write_text((earlier / name).read_text() + "\n# an earlier edition\n")
    given = publish_template(stack.bot, TEMPLATE, source=earlier, echo=lambda _: None)
    stack.tokens["dee"] = stack.server.add_user("dee")
    provision(
        stack.bot,
        [Entry("Dee", "dee")],
        org=ORG,
        template=TEMPLATE,
        team=TEAM,
        prefix="mle-",
        sessions=stack.sessions,
        assessment="round-1",
        echo=lambda _: None,
    )
    today = publish_template(stack.bot, TEMPLATE, echo=lambda _: None)  # template_repo/ again
    assert len({given, today, *stack.template_commits}) == 3
    repo = f"{ORG}/mle-dee"
    stack.accept("dee")
    sha = stack.push("dee", "reference", "done", keep=("README.md", "check.py"))
    (dispatch,) = stack.server.dispatches
    assert dispatch["inputs"]["template_ref"] == given
    assert stack.run_dispatches() == 1
    data = json.loads((stack.results[(repo, sha, False)] / "results.json").read_text())
    assert data["extra_data"]["flags"] == []
    assert data["extra_data"]["template_ref"] == given
    assert data["extra_data"]["scaled_score"] == 600
    # Graded against today's template instead, the same push would be flagged twice.
    flagged = json.loads((stack.run_job(repo, sha) / "results.json").read_text())
    details = sorted(f["detail"].split()[0] for f in flagged["extra_data"]["flags"])
    assert details == ["README.md", "check.py"]


def test_a_closed_window_refuses_pushes_until_an_extension(stack):
    """The board's access job: once the window closes a `git push` is refused; an admin's
    extension gives write access back, and the next push is accepted and graded."""
    login, repo = "cy", f"{ORG}/mle-cy"
    jobs = {
        job.name: job
        for job in board_jobs(
            stack.sessions, reader=stack.bot, final_dispatch=lambda *a: None, echo=lambda _: None
        )
    }
    stack.accept(login)
    inside = stack.push(login, "reference", "in time")
    stack.server.advance_clock(90 * 60 + 1)
    jobs["access"].run(stack.server.clock())
    assert stack.bot.collaborator_permission(repo, login) == "read"
    with pytest.raises(subprocess.CalledProcessError) as refused:
        stack.push(login, "template", "too late")
    assert "403" in refused.value.stderr or "denied" in refused.value.stderr
    with stack.sessions.begin() as s:
        sweeping.extend(s, repo, 30)
    jobs["access"].run(stack.server.clock())
    assert stack.bot.collaborator_permission(repo, login) == "write"
    again = stack.push(login, "quiz_only", "with the extension")
    with stack.sessions() as s:
        shas = [x.sha for x in s.scalars(select(Submission).order_by(Submission.pushed_at))]
        access = s.scalar(select(Candidate.access).where(Candidate.repo == repo))
    assert shas == [inside, again] and access == "write"
