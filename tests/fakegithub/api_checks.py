"""Endpoints for check runs, commit statuses, workflow dispatches and repository events."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from . import shapes
from .api_git import commit_sha
from .api_repos import find_repo
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
    """Check runs are written by GitHub Apps only; any other token gets GitHub's 403."""
    ident = req.identity
    if ident is None:
        raise ApiError(401, "Requires authentication")
    if ident.kind != "installation":
        raise ApiError(
            403, "You must authenticate via a GitHub App.", documentation_url=CHECKS_DOCS
        )


def _check_output(output: Any) -> dict[str, Any]:
    """GitHub's limits on `output.summary` and `output.text`: 65535 characters, and as many
    bytes (a separate error)."""
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


def _workflow_id(hub: FakeGitHub, repo: Repo, workflow_id: str) -> tuple[int, str]:
    """Workflows are named by file name or by a numeric id the server hands out."""
    if workflow_id.isdigit():
        for name, number in repo.workflows.items():
            if number == int(workflow_id):
                return number, name
        raise not_found()
    if workflow_id not in repo.workflows:
        repo.workflows[workflow_id] = hub.state.next_id()
    return repo.workflows[workflow_id], workflow_id


# REST: "Get a workflow" (actions/workflows)
@route("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}")
def get_workflow(
    hub: FakeGitHub, req: Request, owner: str, repo: str, workflow_id: str
) -> Response:
    found = find_repo(hub, req, owner, repo, app=("actions", "read"))
    number, name = _workflow_id(hub, found, workflow_id)
    api = f"{hub.urls.api}/repos/{found.full_name}/actions/workflows/{number}"
    return Response(
        200,
        {
            "id": number,
            "node_id": node_id("Workflow", number),
            "name": name,
            "path": f".github/workflows/{name}",
            "state": "active",
            "created_at": iso(found.created_at),
            "updated_at": iso(found.created_at),
            "url": api,
            "html_url": f"{hub.urls.base}/{found.full_name}/blob/{found.default_branch}/"
            f".github/workflows/{name}",
            "badge_url": f"{hub.urls.base}/{found.full_name}/workflows/{name}/badge.svg",
        },
    )


# REST: "Create a workflow dispatch event" (actions/workflows)
@route("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches")
def dispatch_workflow(
    hub: FakeGitHub, req: Request, owner: str, repo: str, workflow_id: str
) -> Response:
    found = find_repo(hub, req, owner, repo, role="push", app=("actions", "write"))
    body = req.json()
    ref = str(body.get("ref") or "")
    if not ref or hub.git.resolve(found.path, ref.removeprefix("refs/heads/")) is None:
        raise ApiError(422, f"No ref found for: {ref}")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise invalid("Workflow", "inputs")
    number, name = _workflow_id(hub, found, workflow_id)
    assert req.identity is not None
    hub.state.dispatches.append(
        {
            "repo": found.full_name,
            "workflow": name,
            "workflow_id": number,
            "ref": ref,
            "inputs": dict(inputs),
            "time": hub.state.now(),
            "actor": req.identity.label,
        }
    )
    if body.get("return_run_details"):
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


# REST: "List repository events" (activity/events)
@route("GET", "/repos/{owner}/{repo}/events")
def list_events(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo)
    items = list(reversed(found.events))
    return paginate(req, items, lambda e: shapes.event(hub.urls, e), repo=found)
