"""Benchmark: the board with 10,000 candidates (SQLite): median latency of the list page, a
detail page and the CSV export, through Flask's test client (no network).

Usage: .venv/bin/python bench/board.py [--candidates 10000] [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "benchmark password"


def seed(sessions, count: int) -> None:  # noqa: ANN001
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
        first = s.query(Candidate).first()
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


def timed(client, url: str, runs: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, base_url="https://localhost")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from mle_assess.board import create_app

    work = Path(tempfile.mkdtemp(prefix="mle-assess-board-bench-"))
    app = create_app(f"sqlite:///{work / 'board.db'}", secret_key="bench")
    started = time.perf_counter()
    seed(app.extensions["mle_assess_sessions"], args.candidates)
    print(f"seeded {args.candidates} candidates in {time.perf_counter() - started:.1f} s")
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
        "list (page 1, by name)": timed(client, "/", args.runs),
        "list (sorted by score, filtered)": timed(
            client, "/?sort=score&dir=desc&status=submitted&min=300", args.runs
        ),
        "list (page 100)": timed(client, "/?page=100", args.runs),
        "detail": timed(client, "/candidates/1", args.runs),
        "CSV export (all)": timed(client, "/export.csv", max(3, args.runs // 4)),
    }
    for name, ms in figures.items():
        print(f"median {name}: {ms:.1f} ms")


if __name__ == "__main__":
    main()
