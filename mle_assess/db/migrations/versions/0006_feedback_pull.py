"""The number of each candidate's feedback pull request, for the board's link to it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add candidates.feedback_pull."""
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("feedback_pull", sa.Integer, nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("feedback_pull")
