"""The live check: MLE Assess against a real GitHub organisation, end to end.

Run it with `make live-github` as the first thing after setting up the GitHub App (README,
"Setting up GitHub"). It is not part of `make test`: it needs github.com (or a GitHub
Enterprise Server), real credentials and a few minutes, and it is skipped, saying why, when
its settings are absent. It makes one throwaway candidate repository and deletes it at the end.

Settings (environment):
  MLE_ASSESS_APP_ID, MLE_ASSESS_APP_PRIVATE_KEY (or ..._FILE)   the App, as for every command
  MLE_ASSESS_ORG                     the organisation the App is installed on
  MLE_ASSESS_ASSESSMENT_REPO         this assessment repository on GitHub (grade.yml runs there)
  MLE_ASSESS_LIVE_CANDIDATE_TOKEN    a token of a test account that stands in for a candidate
                                     (a classic token with the `repo` scope)
  MLE_ASSESS_TEMPLATE_REPO           optional: the template repository (default
                                     ORG/mle-assess-live-template)
  MLE_ASSESS_LIVE_TEAM               optional: the reviewers' team slug (default reviewers)
  MLE_ASSESS_GITHUB_API              optional: for GitHub Enterprise Server
  MLE_ASSESS_LIVE_WAIT, MLE_ASSESS_LIVE_POLL   optional: seconds to wait for the check run
                                     (default 1200) and between looks (default 20)

The steps, each a test in order, share one module-scoped world:
  1. publish the template;  2. provision the test account;  3. it accepts and pushes;
  4. grade.yml is dispatched and our App's check run appears on the commit;
  5. the window is closed (write access dropped to read);  6. a push is refused;
  7. clean up (the candidate repository is deleted, in any case).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from github import Auth, Github

from mle_assess.db import connect
from mle_assess.github import deadline
from mle_assess.github.gateway import Credentials, Gateway
from mle_assess.github.post import CHECK_NAME, MAIN_BRANCH
from mle_assess.github.provision import Entry, provision, publish_template
from mle_assess.github.queue import grade_inputs

REQUIRED = (
    "MLE_ASSESS_APP_ID",
    "MLE_ASSESS_ORG",
    "MLE_ASSESS_ASSESSMENT_REPO",
    "MLE_ASSESS_LIVE_CANDIDATE_TOKEN",
)
PREFIX = "mle-live-"
# How long to wait for grade.yml to post (three runner start-ups and a grading), and how often
# to look.
CHECK_WAIT = float(os.environ.get("MLE_ASSESS_LIVE_WAIT", 20 * 60))
POLL = float(os.environ.get("MLE_ASSESS_LIVE_POLL", 20))

missing = [name for name in REQUIRED if not os.environ.get(name)]
if not (
    os.environ.get("MLE_ASSESS_APP_PRIVATE_KEY")
    or os.environ.get("MLE_ASSESS_APP_PRIVATE_KEY_FILE")
):
    missing.append("MLE_ASSESS_APP_PRIVATE_KEY")
pytestmark = pytest.mark.skipif(
    bool(missing),
    reason=f"the live check needs {', '.join(missing)} (see live/test_live_github.py)",
)


class World:
    """What the steps share: the App's gateways, the candidate's token and login, the
    repositories, and what each step found."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.org = os.environ["MLE_ASSESS_ORG"]
        self.assessment = os.environ["MLE_ASSESS_ASSESSMENT_REPO"]
        self.template = os.environ.get("MLE_ASSESS_TEMPLATE_REPO") or (
            f"{self.org}/mle-assess-live-template"
        )
        self.team = os.environ.get("MLE_ASSESS_LIVE_TEAM", "reviewers")
        self.root = Gateway(Credentials.from_env())
        self.gh = self.root.for_installation(self.org)
        self.candidate = Gateway(
            Credentials(
                api_url=self.root.creds.api_url, token=os.environ["MLE_ASSESS_LIVE_CANDIDATE_TOKEN"]
            )
        )
        self.login = self.candidate.login()
        # The candidate's side and the clean-up talk to GitHub through PyGithub directly: they
        # are not the product's calls, so they stay out of the gateway.
        self.as_candidate = Github(
            base_url=self.root.creds.api_url,
            auth=Auth.Token(os.environ["MLE_ASSESS_LIVE_CANDIDATE_TOKEN"]),
        )
        self.repo = f"{self.org}/{PREFIX}{self.login}".lower()
        self.template_commit: str | None = None
        self.sha: str | None = None
        _, self.sessions = connect(f"sqlite:///{workdir / 'live.db'}")

    def clone_and_commit(self, name: str) -> Path:
        """A clone of the candidate repository with one new file committed, as the candidate."""
        work = self.workdir / f"clone-{name}"
        url = self.candidate.repo(self.repo)["clone_url"]
        self.candidate.git("clone", "--quiet", url, str(work))
        (work / f"{name}.md").write_text(f"{name}\n", encoding="utf-8")
        ident = ["-c", f"user.name={self.login}", "-c", f"user.email={self.login}@invalid"]
        subprocess.run(["git", *ident, "add", "--all"], cwd=work, check=True)
        subprocess.run(["git", *ident, "commit", "--quiet", "-m", name], cwd=work, check=True)
        return work


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    workdir = Path(tempfile.mkdtemp(prefix="mle-assess-live-"))
    made = World(workdir)
    try:
        yield made
    finally:
        # 7. clean up, whatever happened: the throwaway candidate repository goes.
        try:
            as_bot = Github(base_url=made.root.creds.api_url, auth=Auth.Token(made.gh.token))
            as_bot.get_repo(made.repo).delete()  # needs the App's Administration: write
        except Exception as exc:  # noqa: BLE001 - said, never hidden
            print(f"clean-up: could not delete {made.repo}: {exc}")
        shutil.rmtree(workdir, ignore_errors=True)


def test_1_publish_the_template(world: World) -> None:
    world.template_commit = publish_template(world.gh, world.template, echo=print)
    assert world.gh.branch_sha(world.template, MAIN_BRANCH) == world.template_commit


def test_2_provision_the_test_account(world: World) -> None:
    made = provision(
        world.gh,
        [Entry("Live check", world.login)],
        org=world.org,
        template=world.template,
        team=world.team,
        prefix=PREFIX,
        sessions=world.sessions,
        assessment="live-check",
        echo=print,
    )
    assert [r.lower() for r in made] == [world.repo]
    assert world.login.lower() in (i.lower() for i in world.gh.pending_invitees(world.repo))


def test_3_the_candidate_accepts_and_pushes(world: World) -> None:
    me = world.as_candidate.get_user()
    for invitation in me.get_invitations():
        if invitation.repository.full_name.lower() == world.repo:
            me.accept_invitation(invitation)
    assert world.gh.collaborator_permission(world.repo, world.login) == "write"
    work = world.clone_and_commit("first-push")
    world.candidate.git("push", "--quiet", "origin", f"HEAD:{MAIN_BRANCH}", cwd=work)
    world.sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True, text=True
    ).stdout.strip()
    assert world.gh.branch_sha(world.repo, MAIN_BRANCH) == world.sha


def test_4_grade_yml_posts_our_check_run(world: World) -> None:
    assert world.sha, "the push step did not run"
    writer = world.root.for_installation(world.assessment.split("/")[0])
    templates = {world.repo: world.template_commit}.get
    writer.dispatch(world.assessment, "grade.yml", MAIN_BRANCH,
                    grade_inputs(world.repo, world.sha, templates))  # fmt: skip
    deadline_at = time.monotonic() + CHECK_WAIT
    ours: list[dict] = []
    while not ours and time.monotonic() < deadline_at:
        time.sleep(POLL)
        ours = [
            c
            for c in world.gh.check_runs(world.repo, world.sha, CHECK_NAME)
            if c["app_id"] == world.root.app_id()
        ]
    assert ours, f"no check run by our App on {world.sha[:7]} after {CHECK_WAIT:.0f} s"
    print(f"check run: {ours[0]['title']}")


def test_5_closing_the_window_drops_write_access(world: World) -> None:
    outcome = deadline.change(world.gh, world.repo, world.login, deadline.READ)
    assert outcome.state == deadline.READ, outcome.error
    assert world.gh.collaborator_permission(world.repo, world.login) == "read"


def test_6_a_push_after_the_close_is_refused(world: World) -> None:
    work = world.clone_and_commit("after-the-close")
    refused = subprocess.run(
        ["git", "push", "--quiet", "origin", f"HEAD:{MAIN_BRANCH}"],
        cwd=work,
        env={**os.environ, **world.candidate.git_env()},
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0, "GitHub accepted a push after the window closed"
    assert world.gh.branch_sha(world.repo, MAIN_BRANCH) == world.sha
