"""GitHub: webhook deliveries, grading requests, and whether a result is authoritative.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two tables and the results column."""
    with op.batch_alter_table("results") as batch:
        batch.add_column(
            sa.Column("authoritative", sa.Boolean, nullable=False, server_default=sa.true())
        )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("delivery_id", sa.String(100), nullable=False, unique=True),
        sa.Column("event", sa.String(50), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
    )
    op.create_table(
        "grading_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("candidate_id", sa.Integer, sa.ForeignKey("candidates.id"), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("candidate_id", "sha"),
    )
    op.create_index("ix_grading_requests_candidate_id", "grading_requests", ["candidate_id"])
    op.create_index("ix_grading_requests_state", "grading_requests", ["state"])


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("grading_requests")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("results") as batch:
        batch.drop_column("authoritative")
