"""Running untrusted candidate code in child processes: one module, one entry (`run_child`)."""

from mle_assess.sandbox.runner import (
    COMPANION_PID_ENV,
    FULL,
    REDUCED,
    ChildResult,
    ChildSpec,
    available,
    resolve,
    run_child,
)

__all__ = [
    "COMPANION_PID_ENV",
    "FULL",
    "REDUCED",
    "ChildResult",
    "ChildSpec",
    "available",
    "resolve",
    "run_child",
]
