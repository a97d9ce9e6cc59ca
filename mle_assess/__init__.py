"""MLE Assess: a self-hosted, hidden-test assessment for hiring Machine Learning Engineers."""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("mle-assess")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = PROJECT_ROOT / "template_repo"
HIDDEN_DIR = PROJECT_ROOT / "hidden_tests"
