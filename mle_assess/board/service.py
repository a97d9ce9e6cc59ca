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

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload, sessionmaker

from mle_assess.db.models import Candidate
from mle_assess.errors import GitHubNotFound
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
    """Finalize every candidate whose window closed more than FINALIZE_GRACE ago and who was
    not finalized yet, each in a transaction of its own; returns the repositories dealt with.

    A repository GitHub no longer has is marked dealt with (and said so);
    any other failure leaves the candidate for the next round. A window extended while the
    round ran is left for when it closes again."""
    with sessions() as session:
        due = session.execute(
            select(Candidate.id, Candidate.deadline)
            .where(
                Candidate.deadline.is_not(None),
                Candidate.deadline < now - FINALIZE_GRACE,  # as finalize_one decides
                Candidate.finalized_at.is_(None),
            )
            .order_by(Candidate.deadline, Candidate.id)
        ).all()
    done = []
    for candidate_id, seen_deadline in due:
        with sessions() as session:
            candidate = session.scalar(
                select(Candidate)
                .where(Candidate.id == candidate_id)
                .options(selectinload(Candidate.submissions), selectinload(Candidate.assessment))
            )
            repo, times = candidate.repo, times_from_db(candidate)
        try:
            sha = finalize_one(reader, times, dispatch, now)
            outcome = f"final grading of {sha[:7]} dispatched" if sha else "nothing to dispatch"
        except GitHubNotFound as exc:  # the repository is gone: nothing will ever change
            outcome = f"not finalized: {exc}"
        except Exception as exc:  # noqa: BLE001 - tried again next round; the others go on
            echo(for_log(f"finalize {repo}: {exc.__class__.__name__}: {exc}; trying again later"))
            continue
        with sessions.begin() as session:
            marked = session.execute(
                update(Candidate)
                .where(
                    Candidate.id == candidate_id,
                    Candidate.deadline == seen_deadline,  # not extended meanwhile
                    Candidate.finalized_at.is_(None),
                )
                .values(finalized_at=now)
            ).rowcount
        if marked:
            done.append(repo)
            echo(for_log(f"finalize {repo}: {outcome}"))
        else:
            echo(for_log(f"finalize {repo}: the window changed meanwhile; left for later"))
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
