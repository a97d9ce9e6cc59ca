"""Without root the grader falls back to reduced isolation, records it, and says so.

As root the test drops to an unprivileged uid to run the real command line; without root it
runs as the current user. Either way no namespaces or sandbox users are possible, so the
grader must grade anyway, write `isolation: "reduced"` and warn, and must refuse
`--isolation full` with a clear error.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mle_assess import PROJECT_ROOT
from mle_assess.runtime import system_python

UNPRIVILEGED_UID = 1_400_000  # outside the sandbox users' range


@pytest.fixture
def public_dir():
    """A folder every user may read (pytest's own tmp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="mle-assess-fallback-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_unprivileged(argv: list[str], home: Path, runtime) -> subprocess.CompletedProcess:
    """Run the command line as a user without root, on an interpreter every user can run."""
    python = system_python() if os.geteuid() == 0 else sys.executable
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *site.getsitepackages()]),
        "MLE_ASSESS_RUNTIME": str(runtime.root),
        "LANG": "C.UTF-8",
    }
    prefix = []
    if os.geteuid() == 0:
        os.chown(home, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        prefix = [
            "setpriv",
            f"--reuid={UNPRIVILEGED_UID}",
            f"--regid={UNPRIVILEGED_UID}",
            "--clear-groups",
            "--",
        ]
    return subprocess.run(
        [*prefix, python, "-m", "mle_assess", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_root_grading_is_reduced_and_says_so(samples, runtime, public_dir):
    sub = public_dir / "reference"
    shutil.copytree(samples["reference"], sub)
    home = public_dir / "home"
    home.mkdir()
    proc = as_unprivileged(["grade", str(sub), "--out", str(home / "out")], home, runtime)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((home / "out" / "results.json").read_text())
    assert results["extra_data"]["isolation"] == "reduced"
    assert results["extra_data"]["limits_enforced_by"] == "rlimits"
    assert results["extra_data"]["scaled_score"] == 600
    assert "isolation was reduced" in proc.stderr
    assert "- isolation: reduced" in (home / "out" / "report.md").read_text()


def test_without_root_full_isolation_is_refused(samples, runtime, public_dir):
    sub = public_dir / "template"
    shutil.copytree(samples["template"], sub)
    home = public_dir / "home"
    home.mkdir()
    out = home / "out"
    proc = as_unprivileged(
        ["grade", str(sub), "--out", str(out), "--isolation", "full"], home, runtime
    )
    assert proc.returncode != 0
    assert "full isolation is unavailable: the grader is not running as root" in proc.stderr
    assert not out.exists()
