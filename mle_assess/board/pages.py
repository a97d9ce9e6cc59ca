"""The board's pages. Every view here needs a signed-in account (`role_required`)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from mle_assess.board import cohort as cohort_stats
from mle_assess.board.auth import role_required
from mle_assess.board.summary import official_result, refresh_due
from mle_assess.db.models import Candidate, Submission
from mle_assess.db.session import text_order
from mle_assess.timebox import utc

PAGE_SIZE = 50
MAX_PAGE = 1_000_000  # an offset past any list; larger numbers overflow the database
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL (SQLite's 64-bit)
blueprint = Blueprint("pages", __name__)


STATUSES = ("not started", "in progress", "submitted", "late")
SORTS = {
    # Text sorts by code point on every database (PostgreSQL's collation would ignore case).
    "name": (text_order(Candidate.name),),
    "score": (Candidate.official_score,),
    "time": (Candidate.time_used_seconds,),
    "status": (text_order(Candidate.status),),
}


def summary(candidate: Candidate) -> dict:
    """What a row shows, from the stored summary columns."""
    minutes = candidate.time_used_seconds // 60 if candidate.time_used_seconds is not None else None
    return {
        "candidate": candidate,
        "score": candidate.official_score,
        "status": candidate.status,
        "minutes": minutes,
        # A failed change of repository access (mle_assess.github.deadline) is shown among
        # the flags too, so that the list shows it where staff look.
        "flags": (candidate.flags.split() if candidate.flags else [])
        + (["access_failed"] if candidate.access == "failed" else []),
    }


def listing(args) -> tuple[dict, object]:  # noqa: ANN001 - request.args
    """The list's settings from the query string (anything unknown falls back to a default),
    and the filtered statement; every value reaches SQL as a bound parameter."""
    query = "".join(ch for ch in args.get("q", "")[:100] if ch.isprintable())
    sort = args.get("sort", "name") if args.get("sort") in SORTS else "name"
    direction = "desc" if args.get("dir") == "desc" else "asc"
    wanted_status = args.get("status", "") if args.get("status") in STATUSES else ""
    flag = args.get("flag", "")[:40].lower()
    flag = flag if flag.isascii() and flag.replace("_", "").isalpha() else ""
    low, high = _number(args.get("min")), _number(args.get("max"))
    statement = select(Candidate)
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            or_(
                Candidate.name.ilike(pattern, escape="\\"),
                Candidate.login.ilike(pattern, escape="\\"),
            )
        )
    if wanted_status:
        statement = statement.where(Candidate.status == wanted_status)
    if flag:
        # Flags are lower-case kinds; `_` is a character here, not LIKE's wildcard.
        statement = statement.where(
            func.lower(" " + Candidate.flags + " ").like(
                "% " + flag.replace("_", "\\_") + " %", escape="\\"
            )
        )
    if low is not None:
        statement = statement.where(Candidate.official_score >= low)
    if high is not None:
        statement = statement.where(Candidate.official_score <= high)
    column = SORTS[sort][0]
    order = column.desc() if direction == "desc" else column.asc()
    statement = statement.order_by(order.nulls_last(), Candidate.id)
    settings = {
        "q": query,
        "sort": sort,
        "dir": direction,
        "status": wanted_status,
        "flag": flag,
        "min": "" if low is None else low,
        "max": "" if high is None else high,
    }
    return settings, statement


def _number(value: str | None) -> int | None:
    try:
        return max(0, min(1000, int(value))) if value not in (None, "") else None
    except ValueError:
        return None


@blueprint.get("/")
@role_required()
def candidates():  # noqa: ANN201 - a Flask view
    """The candidate list: search, filter and sort, paginated in the database."""
    settings, statement = listing(request.args)
    try:
        page = max(1, min(MAX_PAGE, int(request.args.get("page", "1"))))
    except ValueError:
        page = 1
    sessions = current_app.extensions["mle_assess_sessions"]
    now = datetime.now(UTC)
    with sessions.begin() as session:
        refresh_due(session, now)
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = session.scalars(statement.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
        shown = [summary(c) for c in rows]
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "candidates.html",
        rows=shown,
        settings=settings,
        statuses=STATUSES,
        page=page,
        pages=pages,
        total=total,
    )


@blueprint.get("/export.csv")
@role_required()
def export():  # noqa: ANN201 - a Flask view
    """The list as filtered and sorted, as CSV (every page)."""
    settings, statement = listing(request.args)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "login", "repository", "score", "status", "minutes_used", "flags"])
    with current_app.extensions["mle_assess_sessions"]() as session:
        for c in session.scalars(statement):
            minutes = c.time_used_seconds // 60 if c.time_used_seconds is not None else ""
            row = [c.name, c.login, c.repo, c.official_score or "", c.status, minutes, c.flags]
            # A cell a spreadsheet would run as a formula is quoted as text.
            writer.writerow(
                ["'" + str(v) if str(v)[:1] and str(v)[:1] in "=+-@\t" else v for v in row]
            )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=candidates.csv"},
    )


@blueprint.get("/candidates/<int:candidate_id>")
@role_required()
def candidate(candidate_id: int):  # noqa: ANN201 - a Flask view
    if candidate_id > MAX_ID:
        abort(404)
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
        row = summary(found)
        submissions = sorted(found.submissions, key=lambda s: utc(s.pushed_at or s.received_at))
        result = official_result(found)
        return render_template(
            "candidate.html",
            row=row,
            submissions=submissions,
            data=result.data if result else None,
            report=render_report(result.report) if result and result.report else None,
            # Per-question and per-check results are for reviewers and admins.
            detailed=current_user.role in ("reviewer", "admin"),
        )


def render_report(text: str) -> Markup:
    """The reviewer report as HTML: CommonMark with tables, its headings moved two levels down;
    raw HTML in it is escaped, and links and images stay text."""
    tokens = _MARKDOWN.parse(text)
    for token in tokens:  # the report's headings sit under the page's own h1 and h2
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + 2)}"
    return Markup(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))


# The grader's report has no links or images of its own, while candidate text reaches its
# cells: none are made, so no tracking image or look-alike link appears on a reviewer's page.
_MARKDOWN = (
    MarkdownIt("commonmark", {"html": False})
    .enable("table")
    .disable(["link", "image", "autolink", "reference"])
)


def official_results(session) -> list[dict]:  # noqa: ANN001 - a Session
    """The results data of every candidate's official result."""
    rows = session.scalars(
        select(Candidate)
        .where(Candidate.official_sha.is_not(None), Candidate.official_score.is_not(None))
        .options(selectinload(Candidate.submissions).selectinload(Submission.results))
    ).all()
    return [result.data for result in map(official_result, rows) if result is not None]


@blueprint.get("/cohort")
@role_required()
def cohort():  # noqa: ANN201 - a Flask view
    """The cohort: histogram, percentiles, module means, and the quiz's item analysis."""
    with current_app.extensions["mle_assess_sessions"]() as session:
        results = official_results(session)
    scores = [int(d["extra_data"]["scaled_score"]) for d in results]
    return render_template(
        "cohort.html",
        count=len(scores),
        svg=Markup(cohort_stats.histogram_svg(scores)),
        percentiles=cohort_stats.percentiles(scores),
        means=cohort_stats.module_means(results),
        # Item statistics are the admins' (DESIGN, "Who uses it").
        items=(
            cohort_stats.item_analysis(results)
            if current_user.role == "admin" and len(results) >= cohort_stats.MIN_FOR_ITEMS
            else None
        ),
        show_items=current_user.role == "admin",
        min_for_items=cohort_stats.MIN_FOR_ITEMS,
    )
