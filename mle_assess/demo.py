"""The demo: build sample submissions, grade them, store the results, print a table, add a
generated cohort for the charts, and make the board's demo accounts.

Everything runs on the embedded default: a SQLite file in the demo folder, children and the
board on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hidden_tests.solutions import SAMPLES, build_sample
from mle_assess import __version__
from mle_assess import grade as grading
from mle_assess.board.api import store as store_result
from mle_assess.board.auth import add_user
from mle_assess.db import Assessment, Candidate, Submission, connect
from mle_assess.db.session import database_url, describe
from mle_assess.democohort import add_cohort
from mle_assess.errors import MleAssessError
from mle_assess.grade.report import Results
from mle_assess.runtime import find

ASSESSMENT = "demo"
COHORT = 200  # generated candidates, so the cohort page has something to show
ROLES = ("recruiter", "reviewer", "admin")


def main(
    *,
    workdir: Path,
    db_url: str | None = None,
    echo: Callable[[str], None] = print,
    cohort: int = COHORT,
) -> Demo:
    """Run the demo in `workdir` (recreated): grade each sample, store the results, add a
    generated cohort and the demo's board accounts."""
    runtime = find()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    url = db_url or f"sqlite:///{workdir.resolve() / 'demo.db'}"
    _, sessions = connect(url)
    with sessions() as session:
        if session.scalar(select(func.count(Candidate.id))):
            raise MleAssessError(
                f"the demo needs an empty database, and {describe(database_url(url))} has "
                "candidates; give another --db, or none for SQLite in the demo folder"
            )
    graded = []
    now = datetime.now(UTC)
    for number, name in enumerate(SAMPLES, start=1):
        echo(f"[{number}/{len(SAMPLES)}] {name}: building the sample")
        sample = build_sample(name, workdir / "samples" / name, runtime_python=runtime.python)
        echo(f"[{number}/{len(SAMPLES)}] {name}: grading")
        out = workdir / "results" / name
        results = grading.main(submission=sample, out=out, runtime=runtime)
        echo(f"[{number}/{len(SAMPLES)}] {name}: {results.summary()}")
        with sessions.begin() as session:
            store(session, name, results, (out / "report.md").read_text(encoding="utf-8"), now)
        graded.append((name, results))
    echo("")
    echo(table(graded))
    extra = graded[-1][1].data["extra_data"]
    echo(
        f"\nisolation: {extra['isolation']} (limits enforced by {extra['limits_enforced_by']})"
        + ("" if extra["isolation"] == "full" else "; run as root for the full sandbox")
    )
    password = secrets.token_urlsafe(12)
    with sessions.begin() as session:
        assessment = session.scalar(select(Assessment).where(Assessment.name == ASSESSMENT))
        if cohort:
            reference = dict(graded)["reference"].data
            add_cohort(session, assessment, reference, count=cohort, now=now, echo=echo)
        for role in ROLES:
            add_user(session, f"demo-{role}", password, role)
    if cohort:
        echo(f"cohort: {cohort} generated candidates added for the charts")
    echo(f"results: {workdir / 'results'}   database: {describe(database_url(url))}")
    return Demo(graded, url, password)


@dataclass
class Demo:
    """What the demo made: each sample's results, the database, the accounts' password."""

    graded: list[tuple[str, Results]]
    url: str
    password: str

    def login_lines(self) -> list[str]:
        return [f"  demo-{role} / {self.password}" for role in ROLES]


def store(session: Session, name: str, results: Results, report: str, now: datetime) -> None:
    """Store one sample as a candidate whose window has closed, with one push inside it, as
    `POST /api/results` would store its result."""
    assessment = session.scalar(select(Assessment).where(Assessment.name == ASSESSMENT))
    if assessment is None:
        assessment = Assessment(name=ASSESSMENT, version=__version__, window_minutes=90)
        session.add(assessment)
    started = now - timedelta(minutes=120)
    candidate = Candidate(
        assessment=assessment,
        name=f"Sample: {name.replace('_', ' ')}",
        login=f"sample-{name}",
        repo=f"demo/sample-{name}",
        started_at=started,
        deadline=started + timedelta(minutes=90),
    )
    sha = hashlib.sha1(name.encode()).hexdigest()
    pushed = started + timedelta(minutes=40)
    session.add(Submission(candidate=candidate, sha=sha, pushed_at=pushed, received_at=pushed))
    session.flush()
    outcome, status = store_result(session, candidate.repo, sha, results.data, True, report)
    if status >= 400:
        raise RuntimeError(f"the demo could not store {name}: {outcome}")


def table(graded: list[tuple[str, Results]]) -> str:
    """A plain-text summary table: one row per sample."""
    head = f"{'sample':<16}{'scaled':>7}{'m1':>7}{'m2':>7}{'m3':>9}{'m4':>9}  flags"
    rows = [head, "-" * len(head)]
    for name, results in graded:
        mods = results.data["extra_data"]["modules"]
        cells = [
            f"{_fmt(mods[m]['score'])}/{mods[m]['max_score']}"
            for m in ("module1", "module2", "module3", "module4")
        ]
        flags = ",".join(sorted({f["kind"] for f in results.data["extra_data"]["flags"]}))
        rows.append(
            f"{name:<16}{results.scaled_score:>7}{cells[0]:>7}{cells[1]:>7}"
            f"{cells[2]:>9}{cells[3]:>9}  {flags or '-'}"
        )
    return "\n".join(rows)


def _fmt(value: float) -> str:
    return f"{value:g}"
