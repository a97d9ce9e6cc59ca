"""Alembic environment: runs the packaged migrations on the connection `mle_assess.db` hands
over (`config.attributes["connection"]`), or else against the configured URL."""

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from mle_assess.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    """Run the migrations on `connection` (batch mode, table copies, on SQLite only)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations with a live connection."""
    given = config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        run_on(connection)
    engine.dispose()


run_migrations_online()
