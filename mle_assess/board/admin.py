"""The admins' pages: the grading log (every grading asked for, every result stored, every
webhook delivery taken in), one result's full record, and window extensions (which give a
closed window's candidate write access back: `mle_assess.github.deadline`).

DESIGN, "Who uses it": grading logs are for admins only; recruiters and reviewers get 403.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mle_assess.board.auth import role_required
from mle_assess.board.pages import MAX_ID
from mle_assess.board.summary import refresh
from mle_assess.db.models import Candidate, GradingRequest, Result, Submission, WebhookDelivery
from mle_assess.errors import MleAssessError
from mle_assess.github.deadline import apply as apply_access
from mle_assess.github.sweep import extend as extend_window

LOG_ROWS = 100
MAX_EXTENSION = 24 * 60  # minutes in one request; more is almost surely a typo
blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.get("/")
@role_required("admin")
def log():  # noqa: ANN201 - a Flask view
    """The newest gradings asked for, results stored and webhook deliveries, newest first."""
    with current_app.extensions["mle_assess_sessions"]() as session:
        requests = session.execute(
            select(GradingRequest, Candidate)
            .join(Candidate, Candidate.id == GradingRequest.candidate_id)
            .order_by(GradingRequest.requested_at.desc(), GradingRequest.id.desc())
            .limit(LOG_ROWS)
        ).all()
        results = session.execute(
            select(Result, Submission, Candidate)
            .join(Submission, Submission.id == Result.submission_id)
            .join(Candidate, Candidate.id == Submission.candidate_id)
            .order_by(Result.graded_at.desc(), Result.id.desc())
            .limit(LOG_ROWS)
        ).all()
        deliveries = session.scalars(
            select(WebhookDelivery)
            .order_by(WebhookDelivery.received_at.desc(), WebhookDelivery.id.desc())
            .limit(LOG_ROWS)
        ).all()
        return render_template(
            "admin_log.html", requests=requests, results=results, deliveries=deliveries
        )


@blueprint.get("/results/<int:result_id>")
@role_required("admin")
def result(result_id: int):  # noqa: ANN201 - a Flask view
    """One grading's whole record: its results.json and the reviewer report."""
    if result_id > MAX_ID:
        abort(404)
    with current_app.extensions["mle_assess_sessions"]() as session:
        found = session.scalar(
            select(Result)
            .where(Result.id == result_id)
            .options(selectinload(Result.submission).selectinload(Submission.candidate))
        )
        if found is None:
            abort(404)
        return render_template(
            "admin_result.html",
            result=found,
            record=json.dumps(found.data, indent=2, sort_keys=True, ensure_ascii=False),
        )


@blueprint.post("/candidates/<int:candidate_id>/extend")
@role_required("admin")
def extend(candidate_id: int):  # noqa: ANN201 - a Flask view
    """Extend one candidate's window by the minutes in the form (1 to 1440)."""
    if candidate_id > MAX_ID:
        abort(404)
    try:
        minutes = int(request.form.get("minutes", ""))
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= MAX_EXTENSION:
        flash(f"An extension is a whole number of minutes from 1 to {MAX_EXTENSION}.")
        return redirect(url_for("pages.candidate", candidate_id=candidate_id))
    with current_app.extensions["mle_assess_sessions"].begin() as session:
        candidate = session.get(Candidate, candidate_id)
        if candidate is None:
            abort(404)
        try:
            extend_window(session, candidate.repo, minutes)
        except MleAssessError as exc:
            flash(str(exc))
            return redirect(url_for("pages.candidate", candidate_id=candidate_id))
        refresh(candidate, datetime.now(UTC))
        total = candidate.extension_minutes
    flash(f"Extended by {minutes} minutes ({total} in all).")
    _restore_access(candidate_id)
    return redirect(url_for("pages.candidate", candidate_id=candidate_id))


def _restore_access(candidate_id: int) -> None:
    """An extension reopens a closed window: write access comes back now when the board has a
    GitHub gateway (`app.extensions["mle_assess_gateway"]`), and otherwise at the board
    service's next round of `enforce_access`, or the next sweep, which also retry a failure."""
    gh = current_app.extensions.get("mle_assess_gateway")
    sessions = current_app.extensions["mle_assess_sessions"]
    if gh is None:
        with sessions() as session:
            closed_before = session.get(Candidate, candidate_id).access in ("read", "failed")
        if closed_before:
            flash("Write access to the repository comes back within a minute or so.")
        return
    done = apply_access(sessions, gh, candidate_id, gh.clock())
    if done is None:
        return
    _, outcome = done
    if outcome.state == "write":
        flash("Write access to the repository is restored.")
    else:
        flash(f"Write access could not be restored: {outcome.error}")
