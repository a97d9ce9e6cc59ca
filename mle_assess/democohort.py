"""A generated cohort for the demo's charts: candidates with windows, pushes and results of the
real shape, scored by the real scoring rules.

Each candidate gets an ability, each check a difficulty (both fixed by the seed); a check
passes with the logistic chance of the difference, so the cohort has a spread of scores and
its quiz items correlate with the total, as a real cohort's would. Every result is built from
one real graded `results.json` (its checks, names and units), rescored with
`scoring.score`, and validated against the results schema before it is stored.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mle_assess.board.api import grader_version
from mle_assess.board.summary import refresh
from mle_assess.db.models import Assessment, Candidate, Result, Submission
from mle_assess.grade.report import validate
from scoring import CheckResult, Config, load_config, score

FIRST = [
    "Amara",
    "Bruno",
    "Chen",
    "Dana",
    "Elif",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kavya",
    "Liam",
    "Mei",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tomas",
    "Uma",
    "Viktor",
    "Wen",
    "Xenia",
    "Yusuf",
    "Zofia",
]
LAST = [
    "Abara",
    "Berg",
    "Costa",
    "Dahl",
    "Eze",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quispe",
    "Rossi",
    "Singh",
    "Tanaka",
    "Urban",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhang",
]
WINDOW = 90
BATCH = 100  # candidates written per flush


def unit_of(number: str) -> str:
    """`module1.q3` is in unit module1; `module3.level1.no_missing` in module3.level1."""
    parts = number.split(".")
    return ".".join(parts[:2]) if parts[1].startswith("level") else parts[0]


def synthetic_result(
    template: dict, ability: float, rng: random.Random, config: Config, seed: int = 0
) -> dict:
    """A results.json like `template`, each check passed or failed by chance, rescored."""
    data = copy.deepcopy(template)
    checks = []
    for test in data["tests"]:
        digest = hashlib.sha256(f"{seed}:{test['number']}".encode()).digest()
        difficulty = (digest[0] / 255.0) * 3.0 - 1.5
        passed = rng.random() < 1 / (1 + math.exp(-1.7 * (ability - difficulty)))
        test["score"] = test["max_score"] if passed else 0
        test["status"] = "passed" if passed else "failed"
        checks.append(
            CheckResult(
                test["number"], unit_of(test["number"]), Fraction(test["score"]), test["max_score"]
            )
        )
    scored = score(checks, config)
    extra = data["extra_data"]
    extra["scaled_score"] = scored.scaled
    for name in extra["modules"]:
        unit = scored.module(name)
        extra["modules"][name] = {"score": _number(unit.score), "max_score": unit.max_score}
    for name in extra["levels"]:
        unit = scored.units[name]
        extra["levels"][name] = {"score": _number(unit.score), "max_score": unit.max_score}
    extra["flags"] = []
    data["score"] = _number(scored.raw)
    data["output"] = "A generated result for the demo cohort.\n"
    validate(data)
    return data


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def add_cohort(
    session: Session,
    assessment: Assessment,
    template: dict,
    *,
    count: int,
    now: datetime,
    seed: int = 2026,
    config: Config | None = None,
    echo: Callable[[str], None] = lambda _: None,
) -> int:
    """Add `count` generated candidates to `assessment`: most finished, some still working,
    a few late or not started. Returns how many got a result. Written in batches, with
    progress every BATCH candidates."""
    rng = random.Random(seed)
    config = config or load_config()
    assessment_id = assessment.id
    graded = 0
    for i in range(count):
        if i and i % BATCH == 0:
            session.flush()
            session.expunge_all()  # written: the session need not keep them
            echo(f"[cohort] {i}/{count} candidates generated")
        name = f"{FIRST[i % len(FIRST)]} {LAST[(i * 7 + i // len(FIRST)) % len(LAST)]}"
        login = f"{name.split()[0].lower()}-{i:03d}"
        kind = rng.choices(["done", "working", "late", "idle"], weights=[80, 10, 6, 4])[0]
        candidate = Candidate(
            assessment_id=assessment_id, name=name, login=login, repo=f"demo/mle-{login}"
        )
        session.add(candidate)
        if kind == "idle":
            continue
        opened_ago = rng.randint(20, 80) if kind == "working" else rng.randint(120, 6 * 24 * 60)
        candidate.started_at = now - timedelta(minutes=opened_ago)
        candidate.deadline = candidate.started_at + timedelta(minutes=WINDOW)
        pushes = sorted(rng.uniform(5, min(opened_ago, WINDOW)) for _ in range(rng.randint(1, 4)))
        if kind == "late":
            pushes.append(WINDOW + rng.uniform(1, 30))
        ability = rng.gauss(0.0, 1.0)
        for number, minute in enumerate(pushes):
            sha = hashlib.sha1(f"{login}:{number}".encode()).hexdigest()
            submission = Submission(
                candidate=candidate,
                sha=sha,
                pushed_at=candidate.started_at + timedelta(minutes=minute),
                received_at=candidate.started_at + timedelta(minutes=minute),
            )
            # Later pushes do a little better: the candidate kept working.
            data = synthetic_result(template, ability + 0.3 * number, rng, config)
            extra = data["extra_data"]
            session.add(submission)
            session.add(
                Result(
                    submission=submission,
                    grader_version=grader_version(data),
                    scaled_score=extra["scaled_score"],
                    raw_score=float(data["score"]),
                    isolation=extra["isolation"],
                    data=data,
                    authoritative=True,
                    graded_at=submission.pushed_at + timedelta(minutes=2),
                )
            )
        graded += 1
    session.flush()
    session.expunge_all()
    # The board's summary columns, a batch of candidates at a time.
    ids = session.scalars(
        select(Candidate.id).where(Candidate.assessment_id == assessment_id).order_by(Candidate.id)
    ).all()
    for start in range(0, len(ids), BATCH):
        batch = session.scalars(
            select(Candidate)
            .where(Candidate.id.in_(ids[start : start + BATCH]))
            .options(
                selectinload(Candidate.submissions).selectinload(Submission.results),
                selectinload(Candidate.assessment),
            )
        ).all()
        for candidate in batch:
            refresh(candidate, now)
        session.flush()
        session.expunge_all()
    return graded
