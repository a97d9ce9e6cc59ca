"""Benchmark: the board with 10,000 candidates, on SQLite and on PostgreSQL: median latency of
the list page, a detail page and the CSV export, through Flask's test client (no HTTP; the
PostgreSQL server is a throwaway one on 127.0.0.1, started with tests/pgserver.py).

Usage: .venv/bin/python bench/board.py [--db sqlite|postgresql|both] [--candidates 10000]
       [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "benchmark password"


def seed(sessions, count: int) -> int:  # noqa: ANN001
    """`count` candidates; most with a window and an official result of a real shape."""
    from mle_assess.board.auth import add_user
    from mle_assess.db import Assessment, Candidate, Result, Submission

    rng = random.Random(7)
    now = datetime.now(UTC)
    with sessions.begin() as s:
        add_user(s, "bench", PASSWORD, "admin")
        assessment = Assessment(name="bench", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        for i in range(count):
            started = now - timedelta(minutes=rng.randint(0, 3000))
            score = rng.randint(200, 600)
            c = Candidate(
                assessment_id=assessment.id,
                name=f"Candidate {i:05d}",
                login=f"cand{i:05d}",
                repo=f"acme/mle-cand{i:05d}",
                started_at=started,
                deadline=started + timedelta(minutes=90),
                official_sha=f"{i:040x}",
                official_score=score,
                status=rng.choice(["in progress", "submitted", "late"]),
                time_used_seconds=rng.randint(0, 5400),
                flags=rng.choice(["", "", "timeout", "rejected_file"]),
            )
            s.add(c)
            if i % 1000 == 0:
                s.flush()
        s.flush()
        first = s.query(Candidate).order_by(Candidate.id).first()
        sub = Submission(candidate_id=first.id, sha=first.official_sha, pushed_at=now)
        s.add(sub)
        s.flush()
        s.add(
            Result(
                submission_id=sub.id,
                grader_version="bench",
                scaled_score=first.official_score,
                raw_score=1.0,
                isolation="full",
                data={"extra_data": {"modules": {}, "levels": {}, "flags": []}, "tests": []},
            )
        )

        return first.id


def timed(client, url: str, runs: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, base_url="https://localhost")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times) * 1000


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh, empty database of `kind`; its URL. Removed afterwards."""
    if kind == "sqlite":
        work = Path(tempfile.mkdtemp(prefix="mle-assess-board-bench-"))
        try:
            yield f"sqlite:///{work / 'board.db'}"
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pgserver import PgServer

    with PgServer.start() as server:
        yield server.create_database("bench")


def measure(kind: str, candidates: int, runs: int) -> dict[str, float]:
    """The medians, in milliseconds, for one kind of database."""
    from mle_assess.board import create_app

    with database(kind) as url:
        app = create_app(url, secret_key="bench")
        sessions = app.extensions["mle_assess_sessions"]
        started = time.perf_counter()
        first = seed(sessions, candidates)
        print(f"{kind}: seeded {candidates} candidates in {time.perf_counter() - started:.1f} s")
        client = app.test_client()
        page = client.get("/login", base_url="https://localhost")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post(
            "/login",
            data={"username": "bench", "password": PASSWORD, "csrf_token": token},
            base_url="https://localhost",
            headers={"Referer": "https://localhost/"},
        )
        figures = {
            "list (page 1, by name)": timed(client, "/", runs),
            "list (sorted by score, filtered)": timed(
                client, "/?sort=score&dir=desc&status=submitted&min=300", runs
            ),
            "list (page 100)": timed(client, "/?page=100", runs),
            "list (search)": timed(client, "/?q=cand0042", runs),
            "detail": timed(client, f"/candidates/{first}", runs),
            "CSV export (all)": timed(client, "/export.csv", max(3, runs // 4)),
        }
        sessions.kw["bind"].dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results = {kind: measure(kind, args.candidates, args.runs) for kind in kinds}
    rows = list(next(iter(results.values())))
    width = max(len(r) for r in rows)
    header = f"{'median (ms)':<{width}}" + "".join(f"{kind:>12}" for kind in kinds)
    if len(kinds) == 2:
        header += f"{'PG/SQLite':>11}"
    print(header)
    for row in rows:
        line = f"{row:<{width}}" + "".join(f"{results[kind][row]:>12.1f}" for kind in kinds)
        if len(kinds) == 2:
            line += f"{results['postgresql'][row] / results['sqlite'][row]:>10.2f}x"
        print(line)


if __name__ == "__main__":
    main()
