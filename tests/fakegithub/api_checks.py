"""Endpoints for check runs, commit statuses and workflow dispatches (repository events are in
api_activity.py)."""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING, Any

import yaml

from . import shapes
from .api_git import commit_sha
from .api_repos import find_repo
from .gitrepo import WORKFLOWS_DIR
from .model import CheckRun, Repo, Status, iso, node_id
from .routes import ApiError, Request, Response, invalid, not_found, paginate, route

if TYPE_CHECKING:
    from .server import FakeGitHub

CHECKS_DOCS = "https://docs.github.com/rest/checks/runs#create-a-check-run"
STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
OUTPUT_LIMIT = 65535


def _installation_only(req: Request) -> None:
    """Check runs are written by GitHub Apps only; a personal token gets GitHub's 403 (docs
    "Using the REST API to interact with checks": only GitHub Apps may write checks)."""
    ident = req.identity
    if ident is None:
        raise ApiError(401, "Requires authentication")
    if ident.kind != "installation":
        raise ApiError(
            403, "You must authenticate via a GitHub App.", documentation_url=CHECKS_DOCS
        )


def _check_output(output: Any) -> dict[str, Any]:
    """GitHub's limits on `output.summary` and `output.text`: 65535 characters
    (zyborg/dotnet-tests-report#9 quotes the message) and 65535 UTF-8 bytes, a separate
    validation error (github/docs#35252, dorny/test-reporter#57). `title` is required with
    `summary` and has no documented length limit (REST "Create a check run")."""
    if output is None:
        return {}
    if not isinstance(output, dict):
        raise invalid("CheckRun", "output")
    for field in ("summary", "text"):
        value = output.get(field)
        if value is None:
            continue
        if len(value) > OUTPUT_LIMIT:
            message = f"Only {OUTPUT_LIMIT} characters are allowed; {len(value)} were supplied."
            raise ApiError(422, "Invalid request.\n\n" + message, documentation_url=CHECKS_DOCS)
        if len(value.encode()) > OUTPUT_LIMIT:
            message = f"{field} exceeds a maximum bytesize of {OUTPUT_LIMIT}"
            raise invalid("CheckRun", field, code="custom", message=message)
    if output and (not output.get("title") or output.get("summary") is None):
        message = 'Invalid request.\n\nFor \'output\', "title" and "summary" are required.'
        raise ApiError(422, message, documentation_url=CHECKS_DOCS)
    return {k: output.get(k) for k in ("title", "summary", "text")}


def _apply(hub: FakeGitHub, run: CheckRun, body: dict[str, Any]) -> None:
    """Fields shared by create and update, validated as GitHub does."""
    status = body.get("status", run.status)
    conclusion = body.get("conclusion", run.conclusion)
    if status not in STATUSES:
        raise invalid("CheckRun", "status")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        raise invalid("CheckRun", "conclusion")
    if "conclusion" in body and conclusion is not None:
        status = "completed"
    if status == "completed" and conclusion is None:
        raise ApiError(
            422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.', documentation_url=CHECKS_DOCS
        )
    if "output" in body:
        run.output = _check_output(body["output"])
    for key in ("name", "external_id", "details_url"):
        if key in body:
            setattr(run, key, body[key])
    now = hub.state.now()
    if status == "in_progress" and run.started_at is None:
        run.started_at = now
    if status == "completed" and run.completed_at is None:
        run.completed_at = now
    run.status, run.conclusion = status, conclusion


# REST: "Create a check run" (checks/runs)
@route("POST", "/repos/{owner}/{repo}/check-runs")
def create_check_run(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    _installation_only(req)
    found = find_repo(hub, req, owner, repo, role="push", app=("checks", "write"))
    body = req.json()
    if not body.get("name"):
        raise ApiError(
            422, 'Invalid request.\n\n"name" wasn\'t supplied.', documentation_url=CHECKS_DOCS
        )
    head_sha = str(body.get("head_sha", ""))
    if len(head_sha) != 40 or hub.git.resolve(found.path, head_sha) != head_sha:
        raise ApiError(422, f"No commit found for SHA: {head_sha}", documentation_url=CHECKS_DOCS)
    assert req.identity is not None and req.identity.installation is not None
    app = req.identity.installation.app
    now = hub.state.now()
    run = CheckRun(
        id=hub.state.next_id(),
        repo=found,
        head_sha=head_sha,
        name=str(body["name"]),
        app=app,
        status="queued",
        conclusion=None,
        started_at=now,
        completed_at=None,
        output={},
        external_id=str(body.get("external_id") or ""),
        details_url=body.get("details_url"),
        suite_id=zlib.crc32(f"{found.id}:{head_sha}:{app.id}".encode()),
    )
    _apply(hub, run, body)
    hub.state.check_runs[run.id] = run
    return Response(201, shapes.check_run(hub.urls, run))


def _find_run(hub: FakeGitHub, repo: Repo, check_run_id: str) -> CheckRun:
    run = hub.state.check_runs.get(int(check_run_id)) if check_run_id.isdigit() else None
    if run is None or run.repo is not repo:
        raise not_found()
    return run


# REST: "Update a check run" (checks/runs)
@route("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}")
def update_check_run(
    hub: FakeGitHub, req: Request, owner: str, repo: str, check_run_id: str
) -> Response:
    _installation_only(req)
    found = find_repo(hub, req, owner, repo, role="push", app=("checks", "write"))
    run = _find_run(hub, found, check_run_id)
    assert req.identity is not None and req.identity.installation is not None
    app = req.identity.installation.app
    if run.app is not app:
        message = f"Invalid app_id `{app.id}` - check run can only be modified by the app that "
        raise ApiError(403, message + "created it.")
    _apply(hub, run, req.json())
    return Response(200, shapes.check_run(hub.urls, run))


# REST: "Get a check run" (checks/runs)
@route("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}")
def get_check_run(
    hub: FakeGitHub, req: Request, owner: str, repo: str, check_run_id: str
) -> Response:
    found = find_repo(hub, req, owner, repo, app=("checks", "read"))
    return Response(200, shapes.check_run(hub.urls, _find_run(hub, found, check_run_id)))


# REST: "List check runs for a Git reference" (checks/runs)
@route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs")
def list_check_runs(hub: FakeGitHub, req: Request, owner: str, repo: str, ref: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("checks", "read"))
    sha = commit_sha(hub, found, ref)
    runs = [r for r in hub.state.check_runs.values() if r.repo is found and r.head_sha == sha]
    name, status, app_id = req.arg("check_name"), req.arg("status"), req.arg("app_id")
    runs = [
        r
        for r in runs
        if (name is None or r.name == name)
        and (status is None or r.status == status)
        and (app_id is None or str(r.app.id) == app_id)
    ]
    runs.sort(key=lambda r: r.id, reverse=True)
    if req.arg("filter", "latest") == "latest":
        seen: set[tuple[int, str]] = set()
        latest = []
        for run in runs:
            if (run.app.id, run.name) not in seen:
                seen.add((run.app.id, run.name))
                latest.append(run)
        runs = latest
    return paginate(
        req, runs, lambda r: shapes.check_run(hub.urls, r), repo=found, key="check_runs"
    )


# REST: "Create a commit status" (commits/statuses)
@route("POST", "/repos/{owner}/{repo}/statuses/{sha}")
def create_status(hub: FakeGitHub, req: Request, owner: str, repo: str, sha: str) -> Response:
    found = find_repo(hub, req, owner, repo, role="push", app=("statuses", "write"))
    body = req.json()
    if body.get("state") not in ("error", "failure", "pending", "success"):
        raise invalid("Status", "state")
    if hub.git.resolve(found.path, sha) != sha:
        raise ApiError(422, f"No commit found for SHA: {sha}")
    assert req.identity is not None and req.identity.account is not None
    status = Status(
        hub.state.next_id(),
        found,
        sha,
        body["state"],
        body.get("target_url"),
        body.get("description"),
        str(body.get("context") or "default"),
        req.identity.account,
        hub.state.now(),
    )
    hub.state.statuses.append(status)
    return Response(201, shapes.status(hub.urls, status))


def _statuses(hub: FakeGitHub, repo: Repo, sha: str) -> list[Status]:
    """Newest first."""
    return [s for s in reversed(hub.state.statuses) if s.repo is repo and s.sha == sha]


# REST: "List commit statuses for a reference" (commits/statuses); PyGithub calls it through
# the older /statuses/{ref} path
@route("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses")
@route("GET", "/repos/{owner}/{repo}/statuses/{ref}")
def list_statuses(hub: FakeGitHub, req: Request, owner: str, repo: str, ref: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("statuses", "read"))
    items = _statuses(hub, found, commit_sha(hub, found, ref))
    return paginate(req, items, lambda s: shapes.status(hub.urls, s), repo=found)


# REST: "Get the combined status for a specific reference" (commits/statuses)
@route("GET", "/repos/{owner}/{repo}/commits/{ref}/status")
def combined_status(hub: FakeGitHub, req: Request, owner: str, repo: str, ref: str) -> Response:
    found = find_repo(hub, req, owner, repo, app=("statuses", "read"))
    sha = commit_sha(hub, found, ref)
    latest: dict[str, Status] = {}
    for status in _statuses(hub, found, sha):
        latest.setdefault(status.context, status)
    states = {s.state for s in latest.values()}
    if states & {"error", "failure"}:
        state = "failure"
    elif not states or "pending" in states:
        state = "pending"
    else:
        state = "success"
    api = f"{hub.urls.api}/repos/{found.full_name}"
    return Response(
        200,
        {
            "state": state,
            "statuses": [shapes.status(hub.urls, s) for s in latest.values()],
            "sha": sha,
            "total_count": len(latest),
            "repository": shapes.repository(hub.state, hub.urls, found),
            "commit_url": f"{api}/commits/{sha}",
            "url": f"{api}/commits/{sha}/status",
        },
    )


MAX_DISPATCH_INPUTS = 25  # REST "Create a workflow dispatch event": at most 25 inputs


def _workflow_text(hub: FakeGitHub, repo: Repo, ref: str, name: str) -> str | None:
    """The workflow file at `ref` (a branch, tag or sha), or None."""
    commit = hub.git.resolve(repo.path, ref.removeprefix("refs/heads/").removeprefix("refs/tags/"))
    if commit is None:
        return None
    spec = f"{commit}:{WORKFLOWS_DIR}{name}"
    if hub.git.object_type(repo.path, spec) != "blob":
        return None
    return hub.git.blob(repo.path, hub.git.rev_of(repo.path, spec)).decode(errors="replace")


def _workflow_id(hub: FakeGitHub, repo: Repo, workflow_id: str, ref: str | None) -> tuple[int, str]:
    """(id, file name) of a workflow named by file name or by the numeric id the server gave
    it. A workflow is a file in .github/workflows/ on the default branch (or at `ref`); any
    other name is 404 Not Found."""
    if workflow_id.isdigit():
        for name, number in repo.workflows.items():
            if number == int(workflow_id):
                return number, name
        raise not_found()
    name = workflow_id.removeprefix(WORKFLOWS_DIR)
    refs = [repo.default_branch] + ([ref] if ref else [])
    if not any(_workflow_text(hub, repo, r, name) is not None for r in refs):
        raise not_found()
    if name not in repo.workflows:
        repo.workflows[name] = hub.state.next_id()
    return repo.workflows[name], name


def dispatch_inputs(text: str | None) -> dict[str, dict[str, Any]] | None:
    """The declared inputs of a workflow's `workflow_dispatch` trigger, or None when the file
    has no such trigger. `on` may be a string, a list or a mapping, and YAML 1.1 loads the
    bare key `on` as True."""
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    on = data.get("on", data.get(True))
    if isinstance(on, str):
        on = [on]
    if isinstance(on, list):
        return {} if "workflow_dispatch" in on else None
    if not isinstance(on, dict) or "workflow_dispatch" not in on:
        return None
    trigger = on["workflow_dispatch"]
    inputs = trigger.get("inputs") if isinstance(trigger, dict) else None
    if not isinstance(inputs, dict):
        return {}
    return {str(k): v if isinstance(v, dict) else {} for k, v in inputs.items()}


def _check_inputs(declared: dict[str, dict[str, Any]], given: Any) -> dict[str, str]:
    """GitHub's validation of dispatch inputs (REST "Create a workflow dispatch event"):
    - at most 25, each value a string; a JSON boolean is refused even for a boolean input,
      which takes "true" or "false" (hms-dbmi-cellenics/iac#323, cli/cli#5246);
    - no input the workflow does not declare ("Unexpected inputs provided", seen in
      benc-uk/workflow-dispatch#80);
    - every required input without a default present; choices among their options."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise invalid("Workflow", "inputs")
    if len(given) > MAX_DISPATCH_INPUTS:
        message = f"No more than {MAX_DISPATCH_INPUTS} properties are allowed; "
        raise ApiError(422, f"Invalid request.\n\n{message}{len(given)} were supplied.")
    for key, value in given.items():
        if not isinstance(value, str):
            message = f"For 'properties/{key}', {json.dumps(value)} is not a string."
            raise ApiError(422, f"Invalid request.\n\n{message}")
    unexpected = sorted(k for k in given if k not in declared)
    if unexpected:
        raise ApiError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
    for key, spec in declared.items():
        value = given.get(key)
        if value is None:
            if spec.get("required") is True and spec.get("default") in (None, ""):
                raise ApiError(422, f"Required input '{key}' not provided")
            continue
        allowed: list[str] | None = None
        if spec.get("type") == "boolean":
            allowed = ["true", "false"]
        elif spec.get("type") == "choice" and isinstance(spec.get("options"), list):
            allowed = [str(o) for o in spec["options"]]
        if allowed is not None and value not in allowed:
            message = (
                f"Provided value '{value}' for input '{key}' not in the list of allowed values"
            )
            raise ApiError(422, message)
    return dict(given)


# REST: "Get a workflow" (actions/workflows); 404 for a file not in .github/workflows/
@route("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}")
def get_workflow(
    hub: FakeGitHub, req: Request, owner: str, repo: str, workflow_id: str
) -> Response:
    found = find_repo(hub, req, owner, repo, app=("actions", "read"))
    number, name = _workflow_id(hub, found, workflow_id, None)
    api = f"{hub.urls.api}/repos/{found.full_name}/actions/workflows/{number}"
    return Response(
        200,
        {
            "id": number,
            "node_id": node_id("Workflow", number),
            "name": name,
            "path": f"{WORKFLOWS_DIR}{name}",
            "state": "active",
            "created_at": iso(found.created_at),
            "updated_at": iso(found.created_at),
            "url": api,
            "html_url": f"{hub.urls.base}/{found.full_name}/blob/{found.default_branch}/"
            f"{WORKFLOWS_DIR}{name}",
            "badge_url": f"{hub.urls.base}/{found.full_name}/workflows/{name}/badge.svg",
        },
    )


# REST: "Create a workflow dispatch event" (actions/workflows). The workflow file is read at
# `ref`: 404 when the workflow does not exist, 422 when `ref` does not ("No ref found for"),
# when the file at `ref` has no `workflow_dispatch` trigger, or for inputs it refuses (see
# _check_inputs). `return_run_details: true` answers 200 with the run's id and addresses
# (github.blog changelog 2026-02-19 "Workflow dispatch API now returns run IDs"); else 204.
@route("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches")
def dispatch_workflow(
    hub: FakeGitHub, req: Request, owner: str, repo: str, workflow_id: str
) -> Response:
    found = find_repo(hub, req, owner, repo, role="push", app=("actions", "write"))
    body = req.json()
    ref = str(body.get("ref") or "")
    number, name = _workflow_id(hub, found, workflow_id, ref or None)
    if not ref or hub.git.resolve(found.path, ref.removeprefix("refs/heads/")) is None:
        raise ApiError(422, f"No ref found for: {ref}")
    declared = dispatch_inputs(_workflow_text(hub, found, ref, name))
    if declared is None:
        raise ApiError(422, "Workflow does not have 'workflow_dispatch' trigger")
    inputs = _check_inputs(declared, body.get("inputs"))
    assert req.identity is not None
    hub.state.dispatches.append(
        {
            "repo": found.full_name,
            "workflow": name,
            "workflow_id": number,
            "ref": ref,
            "inputs": inputs,
            "time": hub.state.now(),
            "actor": req.identity.label,
        }
    )
    if body.get("return_run_details") is True:
        run_id = hub.state.next_id()
        api = f"{hub.urls.api}/repos/{found.full_name}/actions/runs/{run_id}"
        return Response(
            200,
            {
                "workflow_run_id": run_id,
                "run_url": api,
                "html_url": f"{hub.urls.base}/{found.full_name}/actions/runs/{run_id}",
            },
        )
    return Response(204)
