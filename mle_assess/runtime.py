"""The grading runtime: a virtual environment built from `template_repo/requirements.txt`.

It is built with a system Python, outside the repository and home folders, and made read-only,
so that the users that run candidate code can run it but not change it. It holds neither this
project's package nor anything from `hidden_tests/`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mle_assess import TEMPLATE_DIR
from mle_assess.errors import RuntimeMissing

REQUIREMENTS = TEMPLATE_DIR / "requirements.txt"
SYSTEM_PYTHONS = ("/usr/bin/python3.11", "/usr/bin/python3")
MARKER = ".mle-assess-runtime"


@dataclass(frozen=True)
class Runtime:
    """A built grading runtime."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python3"


def requirements_hash(requirements: Path = REQUIREMENTS) -> str:
    """A short hash of the requirements file: a new file means a new runtime folder."""
    return hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]


def default_location(requirements: Path = REQUIREMENTS) -> Path:
    """`$MLE_ASSESS_RUNTIME`, else `/opt/mle-assess/runtime-HASH` as root, else the user cache."""
    if os.environ.get("MLE_ASSESS_RUNTIME"):
        return Path(os.environ["MLE_ASSESS_RUNTIME"])
    name = f"runtime-{requirements_hash(requirements)}"
    if os.geteuid() == 0:
        return Path("/opt/mle-assess") / name
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "mle-assess" / name


def find(location: Path | None = None) -> Runtime:
    """The installed runtime, or RuntimeMissing saying how to install it."""
    root = location or default_location()
    marker = root / MARKER
    if not marker.is_file() or marker.read_text().strip() != requirements_hash():
        raise RuntimeMissing(
            f"the grading runtime is not installed at {root}; "
            "run `mle-assess runtime install` (or `make runtime`)"
        )
    return Runtime(root)


def system_python() -> str:
    """A Python that every user can execute (the one on PATH may live in a private home)."""
    for candidate in SYSTEM_PYTHONS:
        if os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


def install(location: Path | None = None, *, echo: Callable[[str], None] = print) -> Runtime:
    """Build the runtime unless an identical one exists. Idempotent; shows progress."""
    root = location or default_location()
    try:
        return find(root)
    except RuntimeMissing:
        pass
    shutil.rmtree(root, ignore_errors=True)  # a half-built runtime has no marker
    python = system_python()
    echo(f"[runtime] creating a virtual environment with {python} at {root}")
    _run([python, "-m", "venv", str(root)])
    echo(f"[runtime] installing {REQUIREMENTS.name} (pinned packages)")
    _run(
        [
            str(root / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
            str(REQUIREMENTS),
        ]
    )
    _run([str(root / "bin" / "python"), "-c", "import pandas, sklearn, flask, yaml, pytest"])
    _make_read_only(root)
    (root / MARKER).write_text(requirements_hash() + "\n")
    (root / MARKER).chmod(0o444)
    echo(f"[runtime] ready: {root}")
    return Runtime(root)


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeMissing(
            f"building the grading runtime failed: {' '.join(argv[:4])} ...\n{proc.stderr[-2000:]}"
        )


def _make_read_only(root: Path) -> None:
    """Strip write bits for group and others, so sandbox users cannot change the runtime."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o022 | 0o444 | (0o111 if path.is_dir() else 0))
    root.chmod(0o755)
