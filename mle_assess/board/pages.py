"""The board's pages. Every view here needs a signed-in account (`role_required`)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from mle_assess.board.auth import role_required
from mle_assess.db.models import Candidate, Submission
from mle_assess.timebox import Push, Window, official, status, time_used, utc

PAGE_SIZE = 50
blueprint = Blueprint("pages", __name__)


def summary(candidate: Candidate, now: datetime) -> dict:
    """What a row shows: the official score, status, time used and flags."""
    pushes = [Push(s.sha, utc(s.pushed_at or s.received_at)) for s in candidate.submissions]
    window = None
    if candidate.started_at is not None:
        window = Window(
            utc(candidate.started_at),
            candidate.assessment.window_minutes,
            candidate.extension_minutes,
        )
    last = official(pushes, window) if window else None
    result = None
    if last is not None:
        by_sha = {s.sha: s for s in candidate.submissions}
        results = sorted(by_sha[last.sha].results, key=lambda r: r.graded_at)
        result = results[-1] if results else None
    return {
        "candidate": candidate,
        "score": result.scaled_score if result else None,
        "status": status(window, pushes, now),
        "minutes": int(time_used(window, pushes, now).total_seconds() // 60) if window else None,
        "flags": [f["kind"] for f in result.data["extra_data"]["flags"]] if result else [],
    }


@blueprint.get("/")
@role_required()
def candidates():  # noqa: ANN201 - a Flask view
    """The candidate list: search by name or login, paginated on the server."""
    query = "".join(ch for ch in request.args.get("q", "")[:100] if ch.isprintable())
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    statement = select(Candidate).options(
        selectinload(Candidate.submissions).selectinload(Submission.results),
        selectinload(Candidate.assessment),
    )
    counting = select(func.count(Candidate.id))
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        condition = or_(
            Candidate.name.ilike(pattern, escape="\\"), Candidate.login.ilike(pattern, escape="\\")
        )
        statement, counting = statement.where(condition), counting.where(condition)
    with current_app.extensions["mle_assess_sessions"]() as session:
        total = session.scalar(counting)
        rows = session.scalars(
            statement.order_by(Candidate.name, Candidate.id)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        ).all()
        now = datetime.now(UTC)
        shown = [summary(c, now) for c in rows]
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "candidates.html", rows=shown, query=query, page=page, pages=pages, total=total
    )


@blueprint.get("/candidates/<int:candidate_id>")
@role_required()
def candidate(candidate_id: int):  # noqa: ANN201 - a Flask view
    with current_app.extensions["mle_assess_sessions"]() as session:
        found = session.scalar(
            select(Candidate)
            .where(Candidate.id == candidate_id)
            .options(
                selectinload(Candidate.submissions).selectinload(Submission.results),
                selectinload(Candidate.assessment),
            )
        )
        if found is None:
            abort(404)
        row = summary(found, datetime.now(UTC))
        submissions = sorted(found.submissions, key=lambda s: utc(s.pushed_at or s.received_at))
        return render_template("candidate.html", row=row, submissions=submissions)
