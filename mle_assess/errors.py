"""The project's exceptions, translated at the edges (click in the CLI, abort() in views).

MleAssessError
├── RuntimeMissing      the grading runtime is not installed or is incomplete
├── SubmissionError     the submission folder cannot be graded at all
└── StorageError        the database cannot be reached or migrated
"""


class MleAssessError(Exception):
    """Base of every error the project raises on purpose."""


class RuntimeMissing(MleAssessError):
    """The grading runtime is not installed, or was built from other requirements."""


class SubmissionError(MleAssessError):
    """The submission folder does not exist or is not a folder."""


class StorageError(MleAssessError):
    """The database cannot be reached or migrated."""


class SandboxError(MleAssessError):
    """The sandbox could not be set up: full isolation was required but is unavailable, or
    the namespaces, mounts or sandbox users could not be made."""
