"""`POST /api/results`: results from the grading workflow's report job; `GET /api/template`:
a candidate repository's template commit, for `sweep`/`finalize` where they have no database.

Authenticated by a bearer token stored as a SHA-256 digest (`mle-assess board-token`), capped
in size, validated against the results schema, and stored once per (repository, SHA, grader
version): a repeat is answered 200 and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime

import jsonschema
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mle_assess.board.summary import refresh
from mle_assess.db.models import ApiToken, Candidate, Result, Submission
from mle_assess.github import queue
from mle_assess.grade.report import validate

MAX_BODY = 2 * 1024 * 1024
MAX_GRADER_VERSION = 100  # Result.grader_version's length (enforced by PostgreSQL, not SQLite)
SHA = re.compile(r"^[0-9a-f]{40}$")

blueprint = Blueprint("api", __name__)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(session: Session, name: str) -> str:
    """Create a token; only its digest is stored, so it is shown once."""
    token = "mlea_" + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_digest=digest(token)))
    return token


def _authorised(session: Session) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or len(header) > 300:
        return False
    wanted = digest(header.removeprefix("Bearer ").strip())
    stored = session.scalars(select(ApiToken.token_digest)).all()
    return any(hmac.compare_digest(wanted, known) for known in stored)


@blueprint.post("/api/results")
def results():  # noqa: ANN201 - a Flask view
    if (request.content_length or 0) > MAX_BODY:
        return jsonify(error="body too large"), 413
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return jsonify(error="body too large"), 413
    sessions = current_app.extensions["mle_assess_sessions"]
    with sessions.begin() as session:
        if not _authorised(session):
            return jsonify(error="a valid bearer token is required"), 401
        try:
            payload = json.loads(body)
            repo, sha, data = payload["repo"], payload["sha"], payload["results"]
            if not isinstance(repo, str) or not isinstance(sha, str) or not SHA.match(sha):
                raise ValueError("repo and sha")
            if "\x00" in repo:  # PostgreSQL's text cannot hold NUL
                raise ValueError("repo")
            validate(data)
        except (ValueError, KeyError, TypeError, RecursionError, jsonschema.ValidationError):
            return jsonify(error="the body must be {repo, sha, results} with a valid results"), 400
        report = payload.get("report", "")
        report = report[:MAX_BODY] if isinstance(report, str) else ""
        outcome, status = store(
            session, repo, sha, data, bool(payload.get("authoritative", True)), report
        )
    dispatch = current_app.extensions.get("mle_assess_dispatch")
    if status == 201 and dispatch is not None:  # the grading in flight is done: next one
        _release(sessions, repo, dispatch)
    return jsonify(status=outcome), status


def _release(sessions, repo: str, dispatch) -> None:  # noqa: ANN001 - sessionmaker, Dispatch
    """Start the candidate's newest waiting push, once the result is committed: the result is
    kept whatever GitHub does, and a failed dispatch leaves the push waiting for the sweep."""
    try:
        with sessions.begin() as session:
            candidate = session.scalar(
                select(Candidate).where(func.lower(Candidate.repo) == repo.lower())
            )
            queue.release(session, candidate, dispatch, datetime.now(UTC))
    except Exception as exc:  # noqa: BLE001 - the result is stored; the sweep starts the rest
        current_app.logger.warning("releasing %s failed: %s", repo, exc.__class__.__name__)


def grader_version(data: dict) -> str:
    """What a result is stored under with its SHA: the assessment version and grader commit."""
    extra = data["extra_data"]
    return f"{extra['assessment_version']}+{extra['grader_commit']}"


def store(
    session: Session, repo: str, sha: str, data: dict, authoritative: bool, report: str = ""
) -> tuple[str, int]:
    """Store a result once per (repository, SHA, grader version). What one of the databases
    cannot hold is refused (400) before anything is stored, on both alike: NaN or Infinity
    (not JSON; SQLite turns NaN into NULL), a grader version over its column's length or with
    a NUL; NUL characters in the report are dropped (PostgreSQL's text cannot hold them)."""
    extra = data["extra_data"]
    version = grader_version(data)
    if len(version) > MAX_GRADER_VERSION or "\x00" in version:
        return f"the grader version must be text of at most {MAX_GRADER_VERSION} characters", 400
    try:
        json.dumps(data, allow_nan=False)
    except ValueError:
        return "the results hold NaN or Infinity, which JSON cannot", 400
    candidate = session.scalar(select(Candidate).where(func.lower(Candidate.repo) == repo.lower()))
    if candidate is None:
        return "not a candidate repository of this board", 404
    submission = session.scalar(
        select(Submission).where(Submission.candidate_id == candidate.id, Submission.sha == sha)
    )
    if submission is None:
        submission = Submission(candidate_id=candidate.id, sha=sha)
        session.add(submission)
        session.flush()
    exists = session.scalar(
        select(Result.id).where(
            Result.submission_id == submission.id, Result.grader_version == version
        )
    )
    if exists is not None:
        return "already stored", 200
    session.add(
        Result(
            submission_id=submission.id,
            grader_version=version,
            scaled_score=int(extra["scaled_score"]),
            raw_score=float(data["score"]),
            isolation=str(extra["isolation"]),
            data=data,
            authoritative=authoritative,
            report=report.replace("\x00", ""),
        )
    )
    session.flush()
    session.refresh(candidate)
    refresh(candidate, datetime.now(UTC))
    return "stored", 201


@blueprint.get("/api/template")
def template():  # noqa: ANN201 - a Flask view
    """The template commit `provision` recorded for `?repo=OWNER/NAME` (null when none was
    recorded), for the bearer of a board token: `sweep` and `finalize` run without the database
    and pass it on to grade.yml, so protected files are compared with what the candidate was
    given. An unknown repository is 404."""
    with current_app.extensions["mle_assess_sessions"]() as session:
        if not _authorised(session):
            return jsonify(error="a valid bearer token is required"), 401
        repo = request.args.get("repo", "")
        if not queue.REPO.fullmatch(repo):
            return jsonify(error="repo must be OWNER/NAME"), 400
        found = session.execute(
            select(Candidate.repo, Candidate.template_commit).where(
                func.lower(Candidate.repo) == repo.lower()
            )
        ).first()
    if found is None:
        return jsonify(error="not a candidate repository of this board"), 404
    return jsonify(repo=found.repo, template_ref=found.template_commit)
