"""The first schema: assessments, candidates, submissions, results, users.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table of the first schema."""
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("window_minutes", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("assessment_id", sa.Integer, sa.ForeignKey("assessments.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("login", sa.String(100), nullable=False),
        sa.Column("repo", sa.String(200), nullable=False, unique=True),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("deadline", sa.DateTime(timezone=True)),
        sa.Column("extension_minutes", sa.Integer, nullable=False),
        sa.UniqueConstraint("assessment_id", "login"),
    )
    op.create_index("ix_candidates_assessment_id", "candidates", ["assessment_id"])
    op.create_index("ix_candidates_login", "candidates", ["login"])
    op.create_index("ix_candidates_deadline", "candidates", ["deadline"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("candidate_id", sa.Integer, sa.ForeignKey("candidates.id"), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("candidate_id", "sha"),
    )
    op.create_index("ix_submissions_candidate_id", "submissions", ["candidate_id"])
    op.create_index("ix_submissions_pushed_at", "submissions", ["pushed_at"])
    op.create_table(
        "results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("grader_version", sa.String(100), nullable=False),
        sa.Column("scaled_score", sa.Integer, nullable=False),
        sa.Column("raw_score", sa.Float, nullable=False),
        sa.Column("isolation", sa.String(20), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("submission_id", "grader_version"),
    )
    op.create_index("ix_results_submission_id", "results", ["submission_id"])
    op.create_index("ix_results_scaled_score", "results", ["scaled_score"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop every table of the first schema."""
    for table in ("users", "results", "submissions", "candidates", "assessments"):
        op.drop_table(table)
