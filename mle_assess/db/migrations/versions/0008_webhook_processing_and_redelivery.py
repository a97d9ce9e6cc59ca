"""Webhook deliveries stored first and processed afterwards by the board service (their raw
body until then, when processing ran, how often it failed and why), and the deliveries the
service asked GitHub to send again, with the original delivery's time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add webhook_deliveries.body, processed_at, attempts and error, an outcome default, and
    the webhook_redeliveries table. Deliveries stored before were processed when received."""
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("body", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("error", sa.String(500), nullable=True))
        batch.alter_column(
            "outcome", existing_type=sa.String(200), existing_nullable=False, server_default=""
        )
    # The receiver used to process in the request: every row already stored is done.
    op.execute("UPDATE webhook_deliveries SET processed_at = received_at")
    op.create_index("ix_webhook_deliveries_processed_at", "webhook_deliveries", ["processed_at"])
    op.create_table(
        "webhook_redeliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("guid", sa.String(100), nullable=False, unique=True),
        sa.Column("hook_delivery_id", sa.BigInteger, nullable=False),
        sa.Column("event", sa.String(50), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.String(500), nullable=True),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("webhook_redeliveries")
    op.drop_index("ix_webhook_deliveries_processed_at", "webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column(
            "outcome", existing_type=sa.String(200), existing_nullable=False, server_default=None
        )
        batch.drop_column("error")
        batch.drop_column("attempts")
        batch.drop_column("processed_at")
        batch.drop_column("body")
