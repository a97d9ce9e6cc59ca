"""git as a candidate or a test runs it against the server: no host configuration, no
prompts, a fixed identity, and no proxy for 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path


class GitFailed(subprocess.CalledProcessError):
    """A failed git command, with git's own message in the text pytest shows."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr}"


def git(
    *args: str, cwd: Path | str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run git; with `check`, a failure raises GitFailed (a CalledProcessError)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Cand Idate",
        "GIT_AUTHOR_EMAIL": "cand@example.com",
        "GIT_COMMITTER_NAME": "Cand Idate",
        "GIT_COMMITTER_EMAIL": "cand@example.com",
        "NO_PROXY": "127.0.0.1",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode:
        raise GitFailed(done.returncode, done.args, done.stdout, done.stderr)
    return done
