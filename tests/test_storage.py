"""Storage: the Alembic migrations build the schema the models describe, on real SQLite and on
real PostgreSQL (a throwaway server, tests/pgserver.py); both legs of every test run."""

import socket
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mle_assess.db import Assessment, Base, Candidate, Result, Submission, User, connect


@pytest.fixture
def db(db_url):
    engine, sessions = connect(db_url)
    yield engine, sessions
    engine.dispose()


def test_migration_creates_every_model_table_and_column(db):
    engine, _ = db
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
    assert "alembic_version" in inspector.get_table_names()


def test_migrating_twice_is_harmless(db_url):
    connect(db_url)[0].dispose()
    engine, _ = connect(db_url)
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


def test_the_postgresql_leg_is_real(db_url, request):
    """On the PostgreSQL leg the engine is PostgreSQL's, and what the board stores from a
    webhook is there for a separate, raw psycopg connection to read."""
    import hashlib
    import hmac
    import json

    from sqlalchemy import text

    from mle_assess.board import create_app

    engine, _ = connect(db_url)
    expected = "postgresql" if request.node.callspec.params["db_url"] == "postgresql" else "sqlite"
    assert engine.dialect.name == expected
    if expected == "sqlite":
        return
    import psycopg

    with engine.connect() as conn:
        assert conn.execute(text("SHOW TimeZone")).scalar() == "UTC"
    secret = "s" * 20
    app = create_app(db_url, secret_key="k", webhook_secret=secret, dispatch=lambda r, s: None)
    sessions = app.extensions["mle_assess_sessions"]
    with sessions.begin() as s:
        s.add(Candidate(assessment=Assessment(name="r", version="1"), name="A", login="a",
                        repo="acme/mle-a"))  # fmt: skip
    pushed = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": "d" * 40,
            "repository": {"full_name": "acme/mle-a", "pushed_at": int(pushed.timestamp())},
        }
    ).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    response = app.test_client().post(
        "/webhooks/github",
        data=body,
        headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "raw-1",
                 "X-Hub-Signature-256": signature},
    )  # fmt: skip
    # The receiver stores and answers; the board service then processes what it stored.
    assert response.status_code == 202, response.text
    app.extensions["mle_assess_process_deliveries"](datetime.now(UTC), lambda _: None)
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as raw:
        assert raw.info.parameter_status("server_version")
        row = raw.execute(
            "SELECT s.sha, s.pushed_at FROM submissions s JOIN candidates c"
            " ON c.id = s.candidate_id WHERE c.repo = %s",
            ("acme/mle-a",),
        ).fetchone()
        assert row == ("d" * 40, pushed)
        deliveries = raw.execute("SELECT delivery_id, event FROM webhook_deliveries").fetchall()
        assert deliveries == [("raw-1", "push")]


def test_a_plain_postgresql_url_is_served_by_psycopg(postgres_server):
    plain = postgres_server.create_database("plain_url").replace("+psycopg", "")
    assert plain.startswith("postgresql://")
    engine, sessions = connect(plain)
    try:
        assert engine.dialect.driver == "psycopg"
        with sessions.begin() as session:
            session.add(User(username="rita", password_hash="x", role="recruiter"))
        with sessions() as session:
            assert session.scalar(select(User.username)) == "rita"
    finally:
        engine.dispose()
        postgres_server.drop_database("plain_url")


@pytest.mark.parametrize("migrate", [True, False])
def test_an_unreachable_server_is_a_storage_error_naming_the_host_not_the_password(migrate):
    from mle_assess.db.session import database_url
    from mle_assess.errors import StorageError

    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://board:s3cret-Pa55@127.0.0.1:{port}/boarddb"
    assert database_url(url).drivername == "postgresql+psycopg"
    with pytest.raises(StorageError) as caught:
        connect(url, migrate=migrate)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "boarddb" in message and "board" in message
    assert "s3cret" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_malformed_url_is_a_storage_error_without_the_url():
    from mle_assess.errors import StorageError

    with pytest.raises(StorageError, match="not a valid database URL") as caught:
        connect("postgresql://board:s3cret@host:notaport/db")
    assert "s3cret" not in str(caught.value)


def test_downgrading_to_nothing_and_upgrading_again_works(db_url):
    """Every migration, batch_alter_table ones included, runs both ways on both databases."""
    from alembic import command

    from mle_assess.db.session import alembic_config

    engine, _ = connect(db_url)
    engine.dispose()
    command.downgrade(alembic_config(db_url), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    engine, _ = connect(db_url)
    test_migration_creates_every_model_table_and_column((engine, None))


def test_server_defaults_fill_columns_a_raw_insert_leaves_out(db):
    """Rows written without the ORM (older code, SQL by hand) get the migrations' defaults."""
    from sqlalchemy import text

    engine, _ = db
    moment = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO assessments (name, version, window_minutes, created_at)"
                " VALUES ('r', '1', 90, :t)"
            ),
            {"t": moment},
        )
        conn.execute(
            text(
                "INSERT INTO candidates (assessment_id, name, login, repo, extension_minutes)"
                " VALUES (1, 'A', 'a', 'acme/mle-a', 0)"
            )
        )
        conn.execute(
            text("INSERT INTO submissions (candidate_id, sha, received_at) VALUES (1, :s, :t)"),
            {"s": "a" * 40, "t": moment},
        )
        conn.execute(
            text(
                "INSERT INTO results (submission_id, grader_version, scaled_score, raw_score,"
                " isolation, data, graded_at) VALUES (1, 'v', 400, 2.5, 'full', :d, :t)"
            ),
            {"d": '{"score": 2.5, "name": "Ölaf ✓", "nested": [1, null, true]}', "t": moment},
        )
    with Session(engine) as session:
        result = session.scalar(select(Result))
        assert result.authoritative is True and result.report == ""
        assert result.data == {"score": 2.5, "name": "Ölaf ✓", "nested": [1, None, True]}
        candidate = session.scalar(select(Candidate))
        assert (candidate.status, candidate.flags) == ("not started", "")
        graded = result.graded_at
        assert (graded if graded.tzinfo else graded.replace(tzinfo=UTC)) == moment
