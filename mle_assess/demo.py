"""The demo: build sample submissions, grade them, store the results, print a table.

Everything runs on the embedded default: a SQLite file in the demo folder, and children on
127.0.0.1.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hidden_tests.solutions import SAMPLES, build_sample
from mle_assess import __version__
from mle_assess import grade as grading
from mle_assess.db import Assessment, Candidate, Result, Submission, connect
from mle_assess.grade.report import Results
from mle_assess.runtime import find

ASSESSMENT = "demo"


def main(
    *, workdir: Path, db_url: str | None = None, echo: Callable[[str], None] = print
) -> list[tuple[str, Results]]:
    """Run the demo in `workdir` (recreated) and return each sample's results."""
    runtime = find()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    url = db_url or f"sqlite:///{workdir.resolve() / 'demo.db'}"
    _, sessions = connect(url)
    graded = []
    for number, name in enumerate(SAMPLES, start=1):
        echo(f"[{number}/{len(SAMPLES)}] {name}: building the sample")
        sample = build_sample(name, workdir / "samples" / name, runtime_python=runtime.python)
        echo(f"[{number}/{len(SAMPLES)}] {name}: grading")
        results = grading.main(submission=sample, out=workdir / "results" / name, runtime=runtime)
        echo(f"[{number}/{len(SAMPLES)}] {name}: {results.summary()}")
        with sessions.begin() as session:
            store(session, name, results)
        graded.append((name, results))
    echo("")
    echo(table(graded))
    extra = graded[-1][1].data["extra_data"]
    echo(
        f"\nisolation: {extra['isolation']} (limits enforced by {extra['limits_enforced_by']})"
        + ("" if extra["isolation"] == "full" else "; run as root for the full sandbox")
    )
    echo(f"results: {workdir / 'results'}   database: {url}")
    return graded


def store(session: Session, name: str, results: Results) -> Result:
    """Store one sample's result through the models, as a candidate with one submission."""
    assessment = session.scalar(select(Assessment).where(Assessment.name == ASSESSMENT))
    if assessment is None:
        assessment = Assessment(name=ASSESSMENT, version=__version__, window_minutes=90)
        session.add(assessment)
    now = datetime.now(UTC)
    candidate = Candidate(
        assessment=assessment,
        name=name.replace("_", " ").title(),
        login=f"sample-{name}",
        repo=f"demo/sample-{name}",
        started_at=now - timedelta(minutes=60),
        deadline=now + timedelta(minutes=30),
    )
    sha = hashlib.sha1(name.encode()).hexdigest()
    submission = Submission(candidate=candidate, sha=sha, pushed_at=now, received_at=now)
    extra = results.data["extra_data"]
    result = Result(
        submission=submission,
        grader_version=extra["grader_commit"],
        scaled_score=results.scaled_score,
        raw_score=results.data["score"],
        isolation=extra["isolation"],
        data=results.data,
    )
    session.add_all([candidate, submission, result])
    return result


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
