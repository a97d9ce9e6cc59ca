"""The reviewer report kept with each result.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add results.report."""
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("report", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("results") as batch:
        batch.drop_column("report")
