"""Each candidate's feedback pull request number (for the board's link to it), and when the
board service asked for their final grading.

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
    """Add candidates.feedback_pull and candidates.finalized_at."""
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("feedback_pull", sa.Integer, nullable=True))
        batch.add_column(sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("finalized_at")
        batch.drop_column("feedback_pull")
