"""The storage models: assessments, candidates, submissions, results and users.

A submission is one pushed SHA with its trusted push time. A result belongs to one submission
and one grader version; a regrade adds a result, and the newest grader version is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every model."""


class Assessment(Base):
    """One run of the assessment (a hiring round), with its template and window length."""

    __tablename__ = "assessments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    version: Mapped[str] = mapped_column(String(50))
    window_minutes: Mapped[int] = mapped_column(Integer, default=90)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    candidates: Mapped[list[Candidate]] = relationship(back_populates="assessment")


class Candidate(Base):
    """A candidate and their repository; the window opens at `started_at`."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("assessment_id", "login"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    login: Mapped[str] = mapped_column(String(100), index=True)
    repo: Mapped[str] = mapped_column(String(200), unique=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    extension_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # The feedback pull request's number (recorded by `provision`), for the board's link.
    feedback_pull: Mapped[int | None] = mapped_column(Integer)
    # When the board service's finalizer dealt with the closed window (`board.service`).
    finalized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The template repository's commit the candidate's repository was generated from
    # (`provision`): grading compares protected files with that commit's, not today's.
    template_commit: Mapped[str | None] = mapped_column(String(64))
    # The invitation as `provision` last saw it: "" (none yet), "pending", "expired"
    # (re-invited on the next run), or "accepted".
    invitation: Mapped[str] = mapped_column(String(20), default="", server_default="")
    # Write access to the repository: "" (not yet managed), "write" (open window or extended),
    # "read" (dropped after the close, verified), or "failed" with `access_error` saying why.
    access: Mapped[str] = mapped_column(String(20), default="", server_default="")
    access_error: Mapped[str | None] = mapped_column(String(500))
    access_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The board's summary, kept current by `mle_assess.board.summary.refresh` so the list can
    # sort and filter in the database: the official push's SHA and score, the status, the
    # time used, and the official result's flags (space-separated kinds).
    official_sha: Mapped[str | None] = mapped_column(String(64))
    official_score: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(20), default="not started", index=True)
    time_used_seconds: Mapped[int | None] = mapped_column(Integer, index=True)
    flags: Mapped[str] = mapped_column(String(500), default="")
    assessment: Mapped[Assessment] = relationship(back_populates="candidates")
    submissions: Mapped[list[Submission]] = relationship(back_populates="candidate")


class Submission(Base):
    """One pushed commit, with the trusted push time (never the commit's own date)."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("candidate_id", "sha"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), index=True)
    sha: Mapped[str] = mapped_column(String(64))
    pushed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    candidate: Mapped[Candidate] = relationship(back_populates="submissions")
    results: Mapped[list[Result]] = relationship(back_populates="submission")


class Result(Base):
    """The grading of one submission by one grader version."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("submission_id", "grader_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    grader_version: Mapped[str] = mapped_column(String(100))
    scaled_score: Mapped[int] = mapped_column(Integer, index=True)
    raw_score: Mapped[float]
    isolation: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict] = mapped_column(JSON)
    graded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # False when it was posted with a plain token (a commit status), not as our App's check run.
    authoritative: Mapped[bool] = mapped_column(Boolean, default=True)
    # The reviewer report (report.md) that came with the results, for reviewers and admins.
    report: Mapped[str] = mapped_column(Text, default="")
    submission: Mapped[Submission] = relationship(back_populates="results")


class User(Base):
    """A board account: recruiter, reviewer or admin. Candidates never get one."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDelivery(Base):
    """A GitHub webhook delivery taken in, by its delivery id: a redelivery is recognised.

    The receiver stores it (with its raw body) and answers at once; the board service processes
    it afterwards (`mle_assess.github.webhook.process_deliveries`). Unprocessed while
    `processed_at` is None; `error` says why processing failed (given up after a few tries)."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(100), unique=True)
    event: Mapped[str] = mapped_column(String(50))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # What processing did ("" until it has run).
    outcome: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The signed body as received, kept until processed (up to GitHub's 25 MB payload cap).
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(500))


class WebhookRedelivery(Base):
    """A delivery GitHub recorded as failed and we never stored, asked to be sent again by the
    board service's sweep. `delivered_at` is GitHub's time of the original delivery: a
    redelivered event is timed by it, not by when the redelivery arrives."""

    __tablename__ = "webhook_redeliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    guid: Mapped[str] = mapped_column(String(100), unique=True)
    hook_delivery_id: Mapped[int] = mapped_column(BigInteger)  # GitHub's id of that attempt
    event: Mapped[str] = mapped_column(String(50))
    delivered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(500))


class GradingRequest(Base):
    """An official grading asked for one pushed SHA. `state` is `dispatched` (grade.yml was
    started), `waiting` (another grading of this candidate is in flight: the newest push
    waits) or `superseded` (a newer push took its place before it was started)."""

    __tablename__ = "grading_requests"
    __table_args__ = (UniqueConstraint("candidate_id", "sha"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), index=True)
    sha: Mapped[str] = mapped_column(String(64))
    pushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(20), index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A bearer token for `POST /api/results`, stored as a SHA-256 digest only."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
