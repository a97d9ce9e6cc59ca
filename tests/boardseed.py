"""Seeding the board's database in tests: a candidate whose 90-minute window opened at
`started` (or has not opened), added and flushed so it has its id; and a test client signed
in as a board user."""

from __future__ import annotations

import re
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


PASSWORD = "correct horse battery"
HTTPS = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/"}}


def signed_in(app, username: str, password: str = PASSWORD):  # noqa: ANN001, ANN201 - Flask
    """A test client of `app` signed in as `username` (over HTTPS: the cookies are Secure)."""
    client = app.test_client()
    page = client.get("/login", **HTTPS)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, **HTTPS
    )
    assert done.status_code == 302
    return client
