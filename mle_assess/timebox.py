"""The time box: one candidate's window, which push is official, which are late, time used.

Pure functions over trusted times only: the moment GitHub received a push (webhook receipt,
`repository.pushed_at`, or the events API) and the moment the candidate accepted the
invitation. A commit's own date is written by the candidate and is never used. The board
service and `sweep`/`finalize` both decide with this module, whether their times come from
the database or from GitHub's events API.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WINDOW_MINUTES = 90


@dataclass(frozen=True)
class Window:
    """A candidate's window: it opens when they accept the invitation, and lasts the
    assessment's minutes plus any extension an admin granted."""

    opened_at: datetime
    minutes: int = WINDOW_MINUTES
    extension_minutes: int = 0

    def __post_init__(self) -> None:
        if self.opened_at.tzinfo is None:
            raise ValueError("window times must be timezone-aware (UTC)")
        if self.minutes <= 0 or self.extension_minutes < 0:
            raise ValueError("a window lasts a positive number of minutes")

    @property
    def closes_at(self) -> datetime:
        return self.opened_at + timedelta(minutes=self.minutes + self.extension_minutes)

    def contains(self, moment: datetime) -> bool:
        """Inside the window: from its opening up to and including its closing moment."""
        return self.opened_at <= moment <= self.closes_at

    def is_closed(self, now: datetime) -> bool:
        return now > self.closes_at

    def extended(self, minutes: int) -> Window:
        """The same window, `minutes` longer (an admin's extension)."""
        return Window(self.opened_at, self.minutes, self.extension_minutes + minutes)


@dataclass(frozen=True)
class Push:
    """One push: the commit it made current, and when GitHub received it (trusted)."""

    sha: str
    pushed_at: datetime


def in_order(pushes: Iterable[Push]) -> list[Push]:
    """Pushes oldest first; pushes received at the same moment keep their given order."""
    return sorted(pushes, key=lambda p: p.pushed_at)


def official(pushes: Iterable[Push], window: Window) -> Push | None:
    """The last push inside the window, by trusted time: the one whose result counts."""
    inside = [p for p in in_order(pushes) if window.contains(p.pushed_at)]
    return inside[-1] if inside else None


def is_late(push: Push, window: Window) -> bool:
    """A push after the window closed: graded, flagged `late`, never official."""
    return push.pushed_at > window.closes_at


def newest(pushes: Iterable[Push]) -> Push | None:
    """The most recent push, whatever the window: the one a candidate's feedback is about."""
    ordered = in_order(pushes)
    return ordered[-1] if ordered else None


def time_used(window: Window, pushes: Iterable[Push], now: datetime) -> timedelta:
    """Time from the window's opening to the official push; with no push yet, the time so far
    (capped at the window's length)."""
    last = official(pushes, window)
    end = last.pushed_at if last else min(now, window.closes_at)
    return max(timedelta(0), end - window.opened_at)


def status(window: Window | None, pushes: Iterable[Push], now: datetime) -> str:
    """`not started` (no window yet), `in progress`, `submitted` (window closed with an
    official push) or `late` (window closed with pushes, none of them inside it)."""
    if window is None:
        return "not started"
    pushes = list(pushes)
    if not window.is_closed(now):
        return "in progress"
    if official(pushes, window) is not None:
        return "submitted"
    return "late" if pushes else "not started"


def utc(moment: datetime) -> datetime:
    """A stored time as UTC: a naive one (SQLite drops zones; the project stores UTC) is read
    as UTC, and an aware one (PostgreSQL's timestamptz) is converted to UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
