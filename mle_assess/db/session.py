"""The engine and sessions, and schema upgrades through Alembic.

SQLite by default; PostgreSQL by URL. A plain `postgresql://` (or `postgres://`) URL is served
by psycopg 3 (`postgresql+psycopg://`). Both databases are made to behave alike where the board
depends on it:

- Times: every PostgreSQL session runs in UTC, so `timestamptz` values come back as UTC (SQLite
  gives them back naive, read as UTC by `mle_assess.timebox.utc`).
- Case: SQLite's `lower()` only folds ASCII; it is replaced by Python's `str.lower`, so a
  case-insensitive search or lookup folds "Ö" as PostgreSQL does.
- Text order: `text_order(column)` sorts by code point on both (PostgreSQL's default collation
  is the database's language collation, which ignores case and sometimes punctuation).

A database that cannot be reached or migrated raises `StorageError`, naming the database and
its host, never the password.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import URL, Engine, String, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.functions import GenericFunction

from mle_assess.errors import StorageError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_URL = "sqlite:///mle-assess.db"
CONNECT_TIMEOUT_SECONDS = 10  # a host that never answers fails in this time, not minutes


def database_url(url: str | URL) -> URL:
    """`url` parsed, with a plain `postgresql://` or `postgres://` URL given to psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        scheme = str(url).split(":", 1)[0][:40]
        raise StorageError(f"not a valid database URL (scheme {scheme!r})") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def describe(url: URL) -> str:
    """Where `url` points, for messages: the database, host, port and user, not the password."""
    if url.get_backend_name() == "sqlite":
        return f"the SQLite database {url.database or ':memory:'}"
    host = url.host or "the local Unix socket"
    where = f"{host}:{url.port}" if url.port else host
    user = f" as {url.username}" if url.username else ""
    return f"the {url.get_backend_name()} database {url.database or '(default)'} on {where}{user}"


def _masked(text: str, url: URL) -> str:
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


def _reason(exc: BaseException, url: URL) -> str:
    """The driver's own message (first lines), without SQLAlchemy's trailer or the password."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
    return _masked(" ".join(lines[:3]) or exc.__class__.__name__, url)[:500]


def _sqlite_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def create(url: str | URL) -> Engine:
    """An engine for `url`, set up as described above (nothing is connected yet)."""
    parsed = database_url(url)
    kwargs: dict = {}
    if parsed.get_backend_name() == "postgresql":
        options = parsed.query.get("options", "")
        options = " ".join(options) if isinstance(options, tuple) else options
        connect_args: dict = {"options": f"{options} -c timezone=UTC".strip()}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        kwargs = {"connect_args": connect_args, "pool_pre_ping": True}
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StorageError(f"cannot use {describe(parsed)}: {_reason(exc, parsed)}") from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _unicode_lower(dbapi_connection, _record) -> None:  # noqa: ANN001
            dbapi_connection.create_function("lower", 1, _sqlite_lower, deterministic=True)

    return engine


def alembic_config(url: str | URL) -> AlembicConfig:
    """An Alembic config pointing at the packaged migrations and the given database."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    rendered = database_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def _probe(engine: Engine) -> None:
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot connect to {describe(engine.url)}: {_reason(exc, engine.url)}"
        ) from None


def _migrate(engine: Engine) -> None:
    """Bring the database behind `engine` to the newest schema, on one of its connections."""
    _probe(engine)
    try:
        with engine.begin() as connection:
            config = alembic_config(engine.url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot migrate {describe(engine.url)}: {exc.__class__.__name__}: "
            f"{_reason(exc, engine.url)}"
        ) from None


def upgrade(url: str | URL) -> None:
    """Bring the database at `url` to the newest schema."""
    engine = create(url)
    try:
        _migrate(engine)
    finally:
        engine.dispose()


def connect(url: str = DEFAULT_URL, *, migrate: bool = True) -> tuple[Engine, sessionmaker]:
    """An engine and a session factory for `url`, migrated to the newest schema first. A
    server database is reached once here, so a wrong host or password fails now, clearly."""
    engine = create(url)
    try:
        if migrate:
            _migrate(engine)
        elif engine.dialect.name != "sqlite":
            _probe(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine, sessionmaker(engine, expire_on_commit=False)


class text_order(GenericFunction):  # noqa: N801 - used like a SQL function
    """`text_order(column)`: the column, to sort by code point on every database (SQLite's
    default BINARY collation; PostgreSQL's "C" collation, byte order of UTF-8)."""

    type = String()
    inherit_cache = True


@compiles(text_order)
def _text_order_default(element: text_order, compiler, **kw) -> str:  # noqa: ANN001
    return compiler.process(element.clauses, **kw)


@compiles(text_order, "postgresql")
def _text_order_postgresql(element: text_order, compiler, **kw) -> str:  # noqa: ANN001
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'
