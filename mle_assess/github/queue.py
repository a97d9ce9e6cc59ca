"""Official gradings, one at a time per candidate: the newest push wins, the rest wait.

A push asks for a grading of its SHA. When none of the candidate's gradings is in flight, grade.yml
is dispatched at once; otherwise the push waits, and any older waiting push of theirs is
superseded. When the grading in flight has a result (or its slot has passed), `release`
dispatches the newest waiting push. No run is ever cancelled, and every SHA's result is kept:
which result is current is decided by trusted push time, not by which run finished last.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mle_assess.db.models import Candidate, GradingRequest, Result, Submission
from mle_assess.errors import BoardError, GitHubError
from mle_assess.github.gateway import Gateway
from mle_assess.timebox import utc

SHA = re.compile(r"[0-9a-f]{40}")
SLOT = timedelta(minutes=20)  # a dispatched grading counts as in flight this long at most
Dispatch = Callable[[str, str], None]


Templates = Callable[[str], "str | None"]


def workflow_dispatcher(
    gh: Gateway,
    assessment_repo: str,
    workflow: str = "grade.yml",
    ref: str = "main",
    *,
    templates: Templates | None = None,
) -> Dispatch:
    """Dispatch grade.yml in the assessment repository with the inputs `repo` and `sha`, and
    `template_ref` when `templates` knows the template commit the repository was made from."""

    def dispatch(repo: str, sha: str) -> None:
        gh.dispatch(assessment_repo, workflow, ref, grade_inputs(repo, sha, templates))

    return dispatch


def grade_inputs(repo: str, sha: str, templates: Templates | None) -> dict[str, str]:
    """grade.yml's inputs for one push: the template commit goes along when it is known, so
    protected files are compared with the template the candidate was given."""
    inputs = {"repo": repo, "sha": sha}
    template_ref = templates(repo) if templates is not None else None
    if template_ref:
        inputs["template_ref"] = template_ref
    return inputs


REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]{1,100}")


def board_templates(board_url: str, token: str, timeout: float = 15.0) -> Templates:
    """Each candidate repository's template commit, asked of the board (`GET /api/template`)
    by `sweep` and `finalize` where they have no database. A board that cannot answer raises
    BoardError: grading against today's template instead would flag the candidate."""
    import requests

    def lookup(repo: str) -> str | None:
        try:
            response = requests.get(
                board_url.rstrip("/") + "/api/template",
                params={"repo": repo},
                headers={"Authorization": f"Bearer {token}"},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise BoardError(f"the board could not be asked for {repo}'s template: {exc}") from exc
        if response.status_code == 404:
            return None  # not the board's candidate: today's template
        if response.status_code != 200:
            raise BoardError(
                f"the board refused {repo}'s template: {response.status_code} {response.text[:200]}"
            )
        ref = response.json().get("template_ref")
        if ref is not None and not SHA.fullmatch(str(ref)):
            raise BoardError(f"the board gave {repo} a template commit that is no SHA")
        return ref

    return lookup


def template_commits(sessions: sessionmaker) -> Templates:
    """Each candidate repository's template commit, as `provision` recorded it."""

    def lookup(repo: str) -> str | None:
        with sessions() as session:
            return session.scalar(
                select(Candidate.template_commit).where(func.lower(Candidate.repo) == repo.lower())
            )

    return lookup


def in_flight(session: Session, candidate: Candidate, now: datetime) -> GradingRequest | None:
    """The candidate's dispatched grading that has no result yet and is inside its slot."""
    for req in session.scalars(
        select(GradingRequest).where(
            GradingRequest.candidate_id == candidate.id, GradingRequest.state == "dispatched"
        )
    ):
        if (
            req.dispatched_at
            and now - utc(req.dispatched_at) < SLOT
            and not has_result(session, candidate, req.sha)
        ):
            return req
    return None


def has_result(session: Session, candidate: Candidate, sha: str) -> bool:
    return (
        session.scalar(
            select(Result.id)
            .join(Submission)
            .where(Submission.candidate_id == candidate.id, Submission.sha == sha)
            .limit(1)
        )
        is not None
    )


def request_grading(
    session: Session,
    candidate: Candidate,
    sha: str,
    pushed_at: datetime,
    dispatch: Dispatch,
    now: datetime,
) -> str:
    """Ask for an official grading of `sha`; returns its state. Asking twice changes nothing."""
    existing = session.scalar(
        select(GradingRequest).where(
            GradingRequest.candidate_id == candidate.id, GradingRequest.sha == sha
        )
    )
    if existing is not None:
        return existing.state
    req = GradingRequest(
        candidate_id=candidate.id, sha=sha, pushed_at=pushed_at, state="waiting", requested_at=now
    )
    session.add(req)
    session.flush()
    _supersede_older(session, candidate, req)
    if in_flight(session, candidate, now) is None:
        _start(req, candidate, dispatch, now)
    return req.state


def release(
    session: Session, candidate: Candidate, dispatch: Dispatch, now: datetime
) -> str | None:
    """Dispatch the candidate's newest waiting push when nothing is in flight; its SHA, or None."""
    if in_flight(session, candidate, now) is not None:
        return None
    waiting = _waiting(session, candidate)
    if not waiting:
        return None
    newest = waiting[-1]
    _supersede_older(session, candidate, newest)
    _start(newest, candidate, dispatch, now)
    return newest.sha if newest.state == "dispatched" else None


def _waiting(session: Session, candidate: Candidate) -> list[GradingRequest]:
    found = session.scalars(
        select(GradingRequest).where(
            GradingRequest.candidate_id == candidate.id, GradingRequest.state == "waiting"
        )
    )
    return sorted(found, key=lambda r: (utc(r.pushed_at), r.id))


def _supersede_older(session: Session, candidate: Candidate, newest: GradingRequest) -> None:
    for req in _waiting(session, candidate):
        if req.id != newest.id and utc(req.pushed_at) <= utc(newest.pushed_at):
            req.state = "superseded"


def _start(req: GradingRequest, candidate: Candidate, dispatch: Dispatch, now: datetime) -> None:
    """Dispatch; if GitHub refuses for now, the request stays waiting for the sweep."""
    try:
        dispatch(candidate.repo, req.sha)
    except GitHubError:
        return
    req.state = "dispatched"
    req.dispatched_at = now
