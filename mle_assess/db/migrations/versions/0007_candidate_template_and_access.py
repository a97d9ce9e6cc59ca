"""Each candidate's template commit (protected files are compared with the template they were
given, not today's), their invitation's state, and what their write access is after the
window's close (read-only once it closes, write again after an extension).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add candidates.template_commit, invitation, access, access_error and access_at."""
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("template_commit", sa.String(64), nullable=True))
        batch.add_column(sa.Column("invitation", sa.String(20), nullable=False, server_default=""))
        batch.add_column(sa.Column("access", sa.String(20), nullable=False, server_default=""))
        batch.add_column(sa.Column("access_error", sa.String(500), nullable=True))
        batch.add_column(sa.Column("access_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("access_at")
        batch.drop_column("access_error")
        batch.drop_column("access")
        batch.drop_column("invitation")
        batch.drop_column("template_commit")
