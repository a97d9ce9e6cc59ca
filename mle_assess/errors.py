"""The project's exceptions, translated at the edges (click in the CLI, abort() in views).

MleAssessError
├── RuntimeMissing      the grading runtime is not installed or is incomplete
├── SubmissionError     the submission folder cannot be graded at all
├── StorageError        the database cannot be reached or migrated
├── SandboxError        the grading sandbox could not be set up
├── BoardError          the board could not be asked (by sweep or finalize)
└── GitHubError         a GitHub call failed for good (after any retries)
    ├── GitHubNotFound      404
    ├── GitHubForbidden     401, or 403 that is not a rate limit
    ├── GitHubConflict      409 (an empty or still-generating repository)
    ├── GitHubInvalid       422
    └── GitHubUnavailable   5xx, a rate limit, or no answer at all
"""


class MleAssessError(Exception):
    """Base of every error the project raises on purpose."""


class RuntimeMissing(MleAssessError):
    """The grading runtime is not installed, or was built from other requirements."""


class SubmissionError(MleAssessError):
    """The submission folder does not exist or is not a folder."""


class StorageError(MleAssessError):
    """The database cannot be reached or migrated."""


class BoardError(MleAssessError):
    """The board did not answer what `sweep` or `finalize` asked of it (a candidate's template
    commit); that candidate waits for the next run."""


class SandboxError(MleAssessError):
    """The sandbox could not be set up: full isolation was required but is unavailable, or
    the namespaces, mounts or sandbox users could not be made."""


class GitHubError(MleAssessError):
    """A GitHub call failed for good (after any retries). `status` is the HTTP status, or None
    when no answer came back."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitHubNotFound(GitHubError):
    """404: the object does not exist, or this identity may not see it."""


class GitHubForbidden(GitHubError):
    """401 or 403 (not a rate limit): this identity may not do that."""


class GitHubConflict(GitHubError):
    """409: the request conflicts with the repository's state. GitHub answers it for Git
    database calls on a repository with no commits ("Git Repository is empty."), which is also
    what a repository generated from a template answers until its copy is finished."""


class GitHubInvalid(GitHubError):
    """422: GitHub refused the request as it stands (for example, a branch that exists)."""


class GitHubUnavailable(GitHubError):
    """5xx, a rate limit, a dropped connection or a timeout that retries did not get past."""
