"""What the board service does beside serving pages: it finalizes closed windows.

Once a candidate's window has been closed for `FINALIZE_GRACE` (pushes and webhooks can lag),
the finalizer runs `finalize` for them, from the trusted times in the board's database: unless
our App's final-score check run is already on the official SHA, grade.yml is dispatched for it
with `final=true`. Each candidate is dealt with once (`Candidate.finalized_at`); a GitHub
failure leaves them for the next round. The scheduled `finalize` (sweep.yml) stays the safety
net, for a final grading that was dispatched but never posted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload, sessionmaker

from mle_assess.db.models import Candidate
from mle_assess.errors import GitHubError
from mle_assess.github.gateway import Gateway
from mle_assess.github.sweep import FINALIZE_GRACE, finalize_one, times_from_db
from mle_assess.logsafe import for_log

EVERY_SECONDS = 60.0


def finalize_due(
    sessions: sessionmaker,
    reader: Gateway,
    dispatch: Callable[[str, str, bool], None],
    now: datetime,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Finalize every candidate whose window closed at least FINALIZE_GRACE ago and who was
    not finalized yet; returns the repositories dealt with."""
    done = []
    with sessions.begin() as session:
        due = session.scalars(
            select(Candidate)
            .where(
                Candidate.deadline.is_not(None),
                Candidate.deadline <= now - FINALIZE_GRACE,
                Candidate.finalized_at.is_(None),
            )
            .order_by(Candidate.deadline, Candidate.id)
            .options(selectinload(Candidate.submissions), selectinload(Candidate.assessment))
        ).all()
        for candidate in due:
            try:
                sha = finalize_one(reader, times_from_db(candidate), dispatch, now)
            except GitHubError as exc:  # tried again next round
                echo(for_log(f"finalize {candidate.repo}: {exc}; trying again later"))
                continue
            candidate.finalized_at = now
            done.append(candidate.repo)
            if sha:
                echo(for_log(f"finalize {candidate.repo}: final grading of {sha[:7]} dispatched"))
            else:
                echo(for_log(f"finalize {candidate.repo}: nothing to dispatch"))
    return done


class Finalizer:
    """Runs `finalize_due` now and then every `every` seconds, in a daemon thread."""

    def __init__(
        self,
        sessions: sessionmaker,
        reader: Gateway,
        dispatch: Callable[[str, str, bool], None],
        *,
        every: float = EVERY_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        echo: Callable[[str], None] = print,
    ) -> None:
        self.sessions, self.reader, self.dispatch = sessions, reader, dispatch
        self.every, self.clock, self.echo = every, clock, echo
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mle-assess-finalizer", daemon=True)

    def start(self) -> Finalizer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            try:
                finalize_due(self.sessions, self.reader, self.dispatch, self.clock(), self.echo)
            except Exception as exc:  # noqa: BLE001 - the service keeps serving pages
                self.echo(for_log(f"finalize: {exc.__class__.__name__}: {exc}"))
            if self._stop.wait(self.every):
                return
