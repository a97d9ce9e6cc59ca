"""`make live-github` itself, run against the GitHub-shaped server: the live check must pass
where GitHub behaves as documented, so a failure on the real organisation points at the set-up,
not at the check. Its grade.yml runs as the end-to-end test runs it (the workflow's own script:
fetch, grade in the sandbox, report)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from github_env import ORG, make_env

from mle_assess import PROJECT_ROOT

pytestmark = pytest.mark.slow

LIVE = PROJECT_ROOT / "live" / "test_live_github.py"
SCRIPT = PROJECT_ROOT / ".github" / "scripts" / "grade-job.sh"
GRADE_YML = (PROJECT_ROOT / ".github" / "workflows" / "grade.yml").read_text()
CLI = Path(sys.executable).with_name("mle-assess")


class Runner(threading.Thread):
    """Stands in for GitHub Actions: runs grade.yml's script for each dispatch it sees."""

    def __init__(self, server, env: dict[str, str], tmp: Path) -> None:
        super().__init__(daemon=True)
        self.server, self.env, self.tmp = server, env, tmp
        self.done = threading.Event()
        self.ran: list[dict] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.done.wait(0.2):
            for dispatch in list(self.server.dispatches)[len(self.ran) :]:
                self.ran.append(dispatch)
                self.job(dispatch["inputs"])

    def job(self, inputs: dict[str, str]) -> None:
        work = self.tmp / f"job-{len(self.ran)}"
        ref = inputs.get("template_ref", "")
        steps = [
            ("fetch", inputs["repo"], inputs["sha"], str(work / "snap"), ref),
            ("grade", str(work / "snap" / "snapshot.tar"), str(work / "results"), ref),
            ("report", str(work / "results"), inputs["repo"], inputs["sha"]),
        ]
        for step in steps:
            proc = subprocess.run(
                ["bash", str(SCRIPT), *step], env=self.env, capture_output=True, text=True
            )
            if proc.returncode:
                self.failures.append(f"{step[0]}: {proc.stderr[-2000:]}")
                return


def test_the_live_check_passes_where_github_behaves_as_documented(github_server, tmp_path):
    server = github_server
    env = make_env(server)
    token = server.add_user("live-candidate")
    server.create_repo(ORG, "assessment", files={".github/workflows/grade.yml": GRADE_YML})
    settings = {
        **os.environ,
        "MLE_ASSESS_GITHUB_API": server.api_url,
        "MLE_ASSESS_APP_ID": str(env.app.id),
        "MLE_ASSESS_APP_PRIVATE_KEY": env.app.private_key_pem,
        "MLE_ASSESS_ORG": ORG,
        "MLE_ASSESS_ASSESSMENT_REPO": f"{ORG}/assessment",
        "MLE_ASSESS_TEMPLATE_REPO": f"{ORG}/live-template",
        "MLE_ASSESS_LIVE_CANDIDATE_TOKEN": token,
        "MLE_ASSESS_GITHUB_PACING": "off",
        "MLE_ASSESS_LIVE_WAIT": "120",
        "MLE_ASSESS_LIVE_POLL": "0.5",
    }
    runner = Runner(
        server,
        {
            **settings,
            "MLE_ASSESS_CMD": str(CLI),
            "MLE_ASSESS_OUTBOX": str(tmp_path / "outbox"),
            "MLE_ASSESS_WORK_DIR": str(tmp_path),
        },
        tmp_path,
    )
    runner.start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(LIVE), "-q", "-p", "no:cacheprovider", "-s"],
            env=settings,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        runner.done.set()
        runner.join(timeout=120)
    assert runner.failures == []
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "6 passed" in proc.stdout
    # The grading ran once, against the template the repository was made from.
    (dispatch,) = runner.ran
    assert dispatch["inputs"]["repo"] == f"{ORG}/mle-live-live-candidate"
    assert len(dispatch["inputs"]["template_ref"]) == 40
    # It cleaned up after itself: the candidate repository is gone.
    assert server.state.repo(ORG, "mle-live-live-candidate") is None
