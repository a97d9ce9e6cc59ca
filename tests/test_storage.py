"""Storage: the Alembic migration builds the schema the models describe, on real SQLite."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from mle_assess.db import Assessment, Base, Candidate, Result, Submission, User, connect


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'test.db'}"
    engine, sessions = connect(url)
    yield engine, sessions
    engine.dispose()


def test_migration_creates_every_model_table_and_column(db):
    engine, _ = db
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
    assert "alembic_version" in inspector.get_table_names()


def test_migrating_twice_is_harmless(tmp_path):
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    connect(url)[0].dispose()
    engine, _ = connect(url)
    engine.dispose()


def _candidate(session, login="ada"):
    assessment = Assessment(name="spring", version="0.1.0", window_minutes=90)
    candidate = Candidate(assessment=assessment, name="Ada", login=login, repo=f"org/{login}")
    session.add(candidate)
    return candidate


def test_a_result_is_stored_once_per_submission_and_grader_version(db):
    _, sessions = db
    with sessions.begin() as session:
        candidate = _candidate(session)
        sub = Submission(candidate=candidate, sha="a" * 40, pushed_at=datetime.now(UTC))
        session.add(
            Result(
                submission=sub,
                grader_version="v1",
                scaled_score=400,
                raw_score=20,
                isolation="reduced",
                data={"score": 20},
            )
        )
    with pytest.raises(IntegrityError), sessions.begin() as session:
        sub = session.scalar(select(Submission))
        session.add(
            Result(
                submission=sub,
                grader_version="v1",
                scaled_score=410,
                raw_score=21,
                isolation="reduced",
                data={},
            )
        )


def test_a_regrade_adds_a_result_and_the_newest_is_found(db):
    _, sessions = db
    with sessions.begin() as session:
        sub = Submission(candidate=_candidate(session), sha="b" * 40)
        for version, scaled in (("v1", 300), ("v2", 320)):
            session.add(
                Result(
                    submission=sub,
                    grader_version=version,
                    scaled_score=scaled,
                    raw_score=1,
                    isolation="reduced",
                    data={},
                )
            )
    with sessions() as session:
        newest = session.scalars(
            select(Result).order_by(Result.graded_at.desc(), Result.id.desc())
        ).first()
        assert (newest.grader_version, newest.scaled_score) == ("v2", 320)
        assert len(session.scalar(select(Submission)).results) == 2


def test_users_are_unique_by_name(db):
    _, sessions = db
    with sessions.begin() as session:
        session.add(User(username="rita", password_hash="x", role="recruiter"))
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(User(username="rita", password_hash="y", role="admin"))
