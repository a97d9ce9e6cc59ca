"""Endpoints for what happened in a repository: the events API (late, and bounded) and the
repository activity API (at once, with cursor pagination)."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from typing import TYPE_CHECKING

from . import shapes
from .activity import ACTIVITY_TYPES
from .api_repos import find_repo
from .model import Activity, Repo
from .routes import Request, Response, invalid, paginate, route

if TYPE_CHECKING:
    from .server import FakeGitHub

# REST "Events" (docs.github.com/rest/activity/events, content/rest/activity/events.md): the
# API keeps at most 300 events, only those of the last 30 days, and is not real time: an
# event shows between 30 s and 6 h after it happened (FakeGitHub's `events_lag_seconds`).
EVENTS_MAX = 300
EVENTS_MAX_AGE = 30 * 24 * 3600
EVENTS_POLL_INTERVAL = 60  # X-Poll-Interval, as the events API sends it

# REST "List repository activities" (repos/repos; github/rest-api-description): `time_period`
# is day (24 h), week (7 days), month, quarter or year.
TIME_PERIODS = {
    "day": 24 * 3600,
    "week": 7 * 24 * 3600,
    "month": 30 * 24 * 3600,
    "quarter": 91 * 24 * 3600,
    "year": 365 * 24 * 3600,
}


# REST: "List repository events" (activity/events)
@route("GET", "/repos/{owner}/{repo}/events")
def list_events(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    found = find_repo(hub, req, owner, repo)
    now = hub.state.now()
    # An event is listed once the lag has passed since it happened, and no longer once it is
    # 30 days old; of those, the newest 300.
    items = [
        e
        for e in reversed(found.events)
        if now - EVENTS_MAX_AGE <= e.created_at <= now - hub.events_lag_seconds
    ][:EVENTS_MAX]
    response = paginate(req, items, lambda e: shapes.event(hub.urls, e), repo=found)
    response.headers["X-Poll-Interval"] = str(EVENTS_POLL_INTERVAL)
    return response


# REST: "List repository activities" (repos/repos)
@route("GET", "/repos/{owner}/{repo}/activity")
def list_activities(hub: FakeGitHub, req: Request, owner: str, repo: str) -> Response:
    """Entries are recorded at the moment of the change (activity.record_activity) and
    listed at once. Filters: `ref` (a branch name or refs/heads/NAME), `actor`,
    `time_period`, `activity_type`; `direction` desc (default) or asc; cursor pagination
    with `before`/`after` and the Link header."""
    found = find_repo(hub, req, owner, repo)
    direction = req.arg("direction", "desc")
    if direction not in ("asc", "desc"):
        raise invalid("Activity", "direction")
    items = _filtered(hub, req, found)
    items.sort(key=lambda a: a.id, reverse=direction == "desc")
    per_page = min(max(req.int_arg("per_page", 30), 1), 100)
    after, before = req.arg("after"), req.arg("before")
    if after is not None:
        cursor = _decode(after)
        rest = [a for a in items if _beyond(a.id, cursor, direction)]
        page = rest[:per_page]
    elif before is not None:
        cursor = _decode(before)
        rest = [a for a in items if _beyond(cursor, a.id, direction)]
        page = rest[-per_page:]
    else:
        page = items[:per_page]
    links = []
    if page and items.index(page[-1]) < len(items) - 1:
        links.append((_link(req, found, "after", page[-1]), "next"))
    if page and items.index(page[0]) > 0:
        links.append((_link(req, found, "before", page[0]), "prev"))
    headers = {"Link": ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links)} if links else {}
    return Response(200, [shapes.activity(hub.urls, a) for a in page], headers)


def _filtered(hub: FakeGitHub, req: Request, repo: Repo) -> list[Activity]:
    items = list(repo.activities)
    ref = req.arg("ref")
    if ref:
        full = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
        items = [a for a in items if a.ref == full]
    actor = req.arg("actor")
    if actor:
        items = [a for a in items if a.actor and a.actor.login.lower() == actor.lower()]
    period = req.arg("time_period")
    if period:
        if period not in TIME_PERIODS:
            raise invalid("Activity", "time_period")
        since = hub.state.now() - TIME_PERIODS[period]
        items = [a for a in items if a.timestamp >= since]
    kind = req.arg("activity_type")
    if kind:
        if kind not in ACTIVITY_TYPES:
            raise invalid("Activity", "activity_type")
        items = [a for a in items if a.activity_type == kind]
    return items


def _beyond(later: int, earlier: int, direction: str) -> bool:
    """Whether id `later` comes after id `earlier` in the listing's order."""
    return later > earlier if direction == "asc" else later < earlier


def _encode(activity: Activity) -> str:
    """An opaque cursor naming one entry (GitHub's cursors are opaque strings too)."""
    return base64.urlsafe_b64encode(f"v1:{activity.id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, ident = raw.partition(":")
        if version != "v1":
            raise ValueError(cursor)
        return int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid("Activity", "cursor") from exc


def _link(req: Request, repo: Repo, name: str, activity: Activity) -> str:
    query = [(k, v) for k, v in req.query if k not in ("before", "after")]
    query.append((name, _encode(activity)))
    return f"{req.urls.api}/repositories/{repo.id}/activity?{urllib.parse.urlencode(query)}"
