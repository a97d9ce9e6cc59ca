"""Seeding the board's database in tests: a candidate whose 90-minute window opened at
`started` (or has not opened), added and flushed so it has its id."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mle_assess.db import Candidate

WINDOW = timedelta(minutes=90)


def add_candidate(
    session: Session,
    assessment_id: int,
    name: str,
    login: str,
    started: datetime | None,
    *,
    repo: str | None = None,
    **columns: object,
) -> Candidate:
    candidate = Candidate(
        assessment_id=assessment_id,
        name=name,
        login=login,
        repo=repo or f"acme/mle-{login}",
        started_at=started,
        deadline=started + WINDOW if started else None,
        **columns,
    )
    session.add(candidate)
    session.flush()
    return candidate
