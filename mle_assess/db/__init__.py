"""Storage: SQLAlchemy 2 models and Alembic migrations. SQLite by default, PostgreSQL by URL."""

from mle_assess.db.models import (
    ApiToken,
    Assessment,
    Base,
    Candidate,
    GradingRequest,
    Result,
    Submission,
    User,
    WebhookDelivery,
)
from mle_assess.db.session import DEFAULT_URL, connect, upgrade

__all__ = [
    "DEFAULT_URL",
    "ApiToken",
    "Assessment",
    "Base",
    "Candidate",
    "GradingRequest",
    "Result",
    "Submission",
    "User",
    "WebhookDelivery",
    "connect",
    "upgrade",
]
