"""The board's per-candidate summary columns, for sorting and filtering in the database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("official_sha", "official_score", "status", "time_used_seconds", "flags")


def upgrade() -> None:
    """Add the summary columns and their indexes."""
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("official_sha", sa.String(64)))
        batch.add_column(sa.Column("official_score", sa.Integer))
        batch.add_column(
            sa.Column("status", sa.String(20), nullable=False, server_default="not started")
        )
        batch.add_column(sa.Column("time_used_seconds", sa.Integer))
        batch.add_column(sa.Column("flags", sa.String(500), nullable=False, server_default=""))
    op.create_index("ix_candidates_official_score", "candidates", ["official_score"])
    op.create_index("ix_candidates_status", "candidates", ["status"])
    op.create_index("ix_candidates_time_used_seconds", "candidates", ["time_used_seconds"])


def downgrade() -> None:
    """Drop them."""
    for name in ("official_score", "status", "time_used_seconds"):
        op.drop_index(f"ix_candidates_{name}", "candidates")
    with op.batch_alter_table("candidates") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
