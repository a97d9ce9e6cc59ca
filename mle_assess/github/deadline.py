"""A deadline that holds: when a window closes, the candidate's write access goes.

Once a candidate's window has closed, their permission on their repository drops to read, so
nothing more can be pushed; an admin's extension gives write access back. The board service
calls `enforce_access` every `EVERY` (one minute), and `sweep`/`finalize` do the same without a
database (`enforce_closed`), every time sweep.yml runs.

How GitHub answers, and what is done about each answer (REST "Add a repository collaborator",
docs.github.com/rest/collaborators/collaborators#add-a-repository-collaborator):
- 204: an existing collaborator's permission was changed.
- 201: they were no longer a collaborator, so GitHub invited them instead. When dropping to
  read, that invitation is withdrawn (REST "Delete a repository invitation"): leaving would
  otherwise be a way back in. When restoring, it is kept (accepting it is their way back) and
  the board says so.
- 422: an organisation base role stands above the permission asked for (GitHub refuses to
  give an organisation member less than the base role).
- An organisation owner is an admin of every repository, whatever the call says.

Whatever the answer, the result is read back with `GET .../collaborators/{user}/permission`
(REST "Get repository permissions for a user") and recorded on the candidate: `access` is
"read" or "write" when verified, "failed" with `access_error` saying why otherwise (the board
shows it on the candidate's page and in the list's flags). A failed change is tried again
every `RETRY_FAILED`.

The bound. With the board, write access is gone within `EVERY` of the close, plus the time
the calls take. With sweep.yml alone, within its 10-minute schedule plus
whatever delay GitHub adds to scheduled runs (documented as possible under load, without an
upper bound: docs.github.com "Events that trigger workflows", schedule). A push that lands
between the close and the change is still graded and marked late, as every late push is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import sessionmaker

from mle_assess.db.models import Candidate
from mle_assess.errors import GitHubError, GitHubInvalid, GitHubUnavailable
from mle_assess.github.gateway import Gateway
from mle_assess.logsafe import for_log
from mle_assess.timebox import utc

EVERY = timedelta(minutes=1)  # how often the board service enforces access
RETRY_FAILED = timedelta(minutes=10)  # a failed change (an owner, a base role) is retried
SWEEP_EVERY = timedelta(minutes=10)  # sweep.yml's schedule, "*/10 * * * *"
# Roles that can push (REST "Get repository permissions for a user" gives role_name).
WRITE_ROLES = frozenset({"write", "maintain", "admin"})
READ, WRITE, FAILED = "read", "write", "failed"
# GitHub's names for the permissions asked for in `PUT .../collaborators/{user}`.
ASK = {READ: "pull", WRITE: "push"}

# The board's service thread and its admin route both change access: one at a time, so the
# last record always describes the last change made (see `apply`).
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Access:
    """What a change of access achieved: `state` is READ, WRITE or FAILED (with `error`),
    and `role` the role GitHub reported afterwards."""

    state: str
    role: str
    error: str | None = None


def change(gh: Gateway, repo: str, login: str, want: str) -> Access:
    """Give `login` `want` (READ or WRITE) on `repo`, handle GitHub's answer, and verify it.

    Never raises for GitHub's refusal of the change itself (422): that is a FAILED Access.
    Raises GitHubError when GitHub cannot be asked at all (the caller tries again later)."""
    refused = None
    try:
        invitation = gh.set_collaborator_permission(repo, login, ASK[want])
    except GitHubInvalid as exc:  # an organisation base role above the permission asked
        refused, invitation = str(exc), None
    invited_again = False
    if invitation is not None:  # 201: no longer a collaborator, so GitHub invited them
        if want == READ:
            gh.delete_invitation(repo, invitation)  # leaving must not be a way back in
        else:
            invited_again = True
    role = gh.collaborator_permission(repo, login)
    can_write = role in WRITE_ROLES
    if want == READ and not can_write:
        return Access(READ, role)
    if want == WRITE and can_write:
        return Access(WRITE, role)
    if want == WRITE and invited_again:
        return Access(
            FAILED, role, "no longer a collaborator: invited again with write access, "
            "which they must accept"
        )  # fmt: skip
    return Access(FAILED, role, _why(want, role, refused))


def _why(want: str, role: str, refused: str | None) -> str:
    """Why the change did not take, in words staff can act on."""
    if want == WRITE:
        return f"write access not restored: GitHub reports {role!r}" + (
            f" (it refused: {refused})" if refused else ""
        )
    if role == "admin":
        return (
            "still admin after the close: an organisation owner (or an admin through a team) "
            "keeps access whatever the repository permission"
        )
    if refused:
        return (
            f"still {role} after the close: the organisation's base role is above read, and "
            f"GitHub refused a lower permission ({refused})"
        )
    return f"still {role} after the close (through a team or the organisation's base role)"


def enforce_closed(gh: Gateway, repo: str, login: str) -> Access | None:
    """Without a database (`sweep`/`finalize`): if `login` can still push to `repo`, drop them
    to read. One read when nothing is to be done; None then."""
    role = gh.collaborator_permission(repo, login)
    if role not in WRITE_ROLES:
        return None
    return change(gh, repo, login, READ)


def wanted(candidate: Candidate, now: datetime) -> str | None:
    """The access `candidate` should have now, when something is to be done; else None.

    Before their window opens, and while it is open without ever having been restricted,
    the invitation's write access stands and nothing is asked of GitHub."""
    if candidate.started_at is None or candidate.deadline is None:
        return None
    closed = now > utc(candidate.deadline)
    recent = candidate.access_at is not None and now - utc(candidate.access_at) < RETRY_FAILED
    if candidate.access == FAILED and recent:
        return None  # an owner or a base role does not change by the minute
    if closed:
        return None if candidate.access == READ else READ
    return WRITE if candidate.access in (READ, FAILED) else None


def apply(
    sessions: sessionmaker, gh: Gateway, candidate_id: int, now: datetime
) -> tuple[str, Access] | None:
    """Bring one candidate's access in line with their window, and record the outcome.
    Returns their repository and the outcome, or None when nothing was to be done.

    What was verified on GitHub is recorded even if the window changed meanwhile (an admin's
    extension): the next round then sees the mismatch and changes it back."""
    with _LOCK:
        with sessions() as session:
            candidate = session.get(Candidate, candidate_id)
            if candidate is None:
                return None
            want = wanted(candidate, now)
            repo, login = candidate.repo, candidate.login
        if want is None:
            return None
        try:
            outcome = change(gh, repo, login, want)
        except GitHubUnavailable as exc:  # for now (a limit, an outage): asked again next round
            return repo, Access(FAILED, "", f"GitHub could not be asked: {exc}"[:500])
        except GitHubError as exc:
            outcome = Access(FAILED, "", f"GitHub could not be asked: {exc}"[:500])
        with sessions.begin() as session:
            session.execute(
                update(Candidate)
                .where(Candidate.id == candidate_id)
                .values(access=outcome.state, access_error=outcome.error, access_at=now)
            )
        return repo, outcome


def enforce_access(
    sessions: sessionmaker,
    gh: Gateway,
    now: datetime,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """For the board service, every `EVERY`: drop closed windows to read, give extended ones
    write access back. Only candidates whose recorded access disagrees with their window are
    looked at, so a quiet minute costs one query and no call to GitHub. Returns the
    repositories changed (or tried)."""
    with sessions() as session:
        due = session.scalars(
            select(Candidate.id)
            .where(
                Candidate.started_at.is_not(None),
                Candidate.deadline.is_not(None),
                or_(
                    and_(Candidate.deadline < now, Candidate.access != READ),
                    and_(Candidate.deadline >= now, Candidate.access.in_((READ, FAILED))),
                ),
            )
            .order_by(Candidate.deadline, Candidate.id)
        ).all()
    done = []
    for candidate_id in due:
        result = apply(sessions, gh, candidate_id, now)
        if result is None:
            continue
        repo, outcome = result
        done.append(repo)
        said = f"access {repo}: {outcome.state}"
        echo(for_log(f"{said}: {outcome.error}" if outcome.error else said))
    return done
