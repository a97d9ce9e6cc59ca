"""Running untrusted candidate code in child processes: one module, one entry (`run_child`)."""

from mle_assess.sandbox.runner import ChildResult, ChildSpec, run_child

__all__ = ["ChildResult", "ChildSpec", "run_child"]
