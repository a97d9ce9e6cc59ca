"""Storage: SQLAlchemy 2 models and Alembic migrations. SQLite by default, PostgreSQL by URL."""

from mle_assess.db.models import Assessment, Base, Candidate, Result, Submission, User
from mle_assess.db.session import DEFAULT_URL, connect, upgrade

__all__ = [
    "DEFAULT_URL",
    "Assessment",
    "Base",
    "Candidate",
    "Result",
    "Submission",
    "User",
    "connect",
    "upgrade",
]
