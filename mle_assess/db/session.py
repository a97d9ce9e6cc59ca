"""The engine and sessions, and schema upgrades through Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from mle_assess.errors import StorageError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_URL = "sqlite:///mle-assess.db"


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic config pointing at the packaged migrations and the given database."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema."""
    try:
        command.upgrade(alembic_config(url), "head")
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot migrate the database: {exc.__class__.__name__}: {exc}") from exc


def connect(url: str = DEFAULT_URL, *, migrate: bool = True) -> tuple[Engine, sessionmaker]:
    """An engine and a session factory for `url`, migrated to the newest schema first."""
    if migrate:
        upgrade(url)
    engine = create_engine(url)
    return engine, sessionmaker(engine, expire_on_commit=False)
