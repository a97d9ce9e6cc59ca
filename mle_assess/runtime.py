"""The grading runtime: a virtual environment built from `template_repo/requirements.txt`.

It is built from a Python 3.11 (the version the candidate README promises), outside the
repository and home folders, and made read-only, so that the users that run candidate code can
run it but not change it. It holds neither this project's package nor anything from
`hidden_tests/`.

The interpreter to build from is a system Python by default (`/usr/bin/python3.11`, else
`/usr/bin/python3`), or the one given with `install(python=...)`: on a GitHub runner that is
setup-python's, in the runner's tool cache, because the image's `/usr/bin/python3` is another
version. Like every virtual environment, the runtime then points at that base interpreter
(`home` in its `pyvenv.cfg`), which keeps the standard library; `base_homes()` tells the
sandbox which folders it must show for the runtime to start.
"""

from __future__ import annotations

import hashlib
import json
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
# The candidate README promises Python 3.11: a runtime of another version would grade code on
# an interpreter the candidate was never told about.
REQUIRED_VERSION = (3, 11)
# What an interpreter says about itself: its version and the base interpreter that a virtual
# environment made with it will point at (itself, unless it runs inside a virtual environment).
_PROBE = (
    "import json, sys; print(json.dumps({'version': list(sys.version_info[:3]), "
    "'base_executable': getattr(sys, '_base_executable', sys.executable)}))"
)


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


@dataclass(frozen=True)
class Interpreter:
    """A Python checked to be fit to build the runtime from."""

    path: str
    version: tuple[int, int, int]
    base_executable: str


def interpreter(python: str) -> Interpreter:
    """Check that `python` is a Python 3.11 this process can run; RuntimeMissing says why not."""
    path = os.path.abspath(python)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise RuntimeMissing(f"cannot build the grading runtime from {path}: no program there")
    try:
        proc = subprocess.run(
            [path, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60
        )
        about = json.loads(proc.stdout)
        found = Interpreter(path, tuple(about["version"]), about["base_executable"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
        raise RuntimeMissing(
            f"cannot build the grading runtime from {path}: it does not run as Python ({exc})"
        ) from exc
    if found.version[:2] != REQUIRED_VERSION:
        wanted = ".".join(map(str, REQUIRED_VERSION))
        raise RuntimeMissing(
            f"cannot build the grading runtime from {path}: it is Python "
            f"{'.'.join(map(str, found.version))}, and the runtime must be Python {wanted}, "
            f"as the candidate README promises; pass `--python` with a Python {wanted} (on a "
            "GitHub runner, the python-path output of actions/setup-python)"
        )
    return found


def base_homes(root: Path) -> list[Path]:
    """The folders of the runtime's base interpreter: as its `pyvenv.cfg` names it, with links
    resolved, and where the runtime's python3 leads (one path when they agree); empty when
    `root` is no virtual environment.

    Python finds its standard library from there (one folder up, in `lib/python3.X`), and a
    shared build such as setup-python's loads `libpython` from that same prefix.
    """
    config = root / "pyvenv.cfg"
    if not config.is_file():
        return []
    home = _venv_config(config).get("home", "")
    if not home or not os.path.isabs(home):
        raise RuntimeMissing(f"the grading runtime at {root} names no base interpreter (home)")
    homes = [Path(os.path.abspath(home)), Path(os.path.realpath(home))]
    # The runtime's python links to the base; where the links end is the program itself.
    link = root / "bin" / "python3"
    if link.exists():
        homes.append(Path(os.path.realpath(link)).parent)
    return list(dict.fromkeys(homes))


def _venv_config(config: Path) -> dict[str, str]:
    """`pyvenv.cfg` as written by the venv module: `key = value` lines."""
    values = {}
    for line in config.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _built_from(runtime: Runtime, python: Interpreter) -> bool:
    """Whether the runtime's base interpreter is the one `python` would give it."""
    config = (
        _venv_config(runtime.root / "pyvenv.cfg") if (runtime.root / "pyvenv.cfg").is_file() else {}
    )
    base = config.get("executable") or os.path.join(config.get("home", ""), "python3")
    return os.path.realpath(base) == os.path.realpath(python.base_executable)


def install(
    location: Path | None = None,
    *,
    python: str | None = None,
    echo: Callable[[str], None] = print,
) -> Runtime:
    """Build the runtime unless an identical one exists. Idempotent; shows progress.

    `python` is the Python 3.11 to build it from (default: `system_python()`). Given, it is
    also what "identical" means: a runtime built from another interpreter is built again.
    """
    root = location or default_location()
    chosen = interpreter(python) if python is not None else None
    try:
        existing = find(root)
        if chosen is None or _built_from(existing, chosen):
            return existing
        echo(f"[runtime] {root} was built from another Python; building it again")
    except RuntimeMissing:
        pass
    if chosen is None:
        chosen = interpreter(system_python())
    shutil.rmtree(root, ignore_errors=True)  # a half-built runtime has no marker
    python = chosen.path
    version = ".".join(map(str, chosen.version))
    echo(f"[runtime] creating a virtual environment with {python} (Python {version}) at {root}")
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
