"""Fetch exactly one commit of a candidate repository as a `git archive` tarball.

Run by the grade workflow's fetch job, which holds a token that can only read that one
repository. The tarball keeps symbolic links as links (the grader refuses them) and never holds
`.git` or any credential.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from mle_assess.errors import GitHubError, MleAssessError
from mle_assess.github.gateway import Credentials, Gateway

REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
SHA = re.compile(r"^[0-9a-f]{40}$")


def check_target(repo: str, sha: str | None = None) -> None:
    """Refuse a repository name or SHA that is not plainly one (they reach command lines)."""
    if not REPO.match(repo) or ".." in repo:
        raise MleAssessError(f"not a repository name (OWNER/NAME): {repo!r}")
    if sha is not None and not SHA.match(sha):
        raise MleAssessError(f"not a full 40-character commit SHA: {sha!r}")


def gateway_for(
    repo: str, permissions: dict[str, str], creds: Credentials | None = None
) -> Gateway:
    """A gateway for one repository: with an App, an installation token limited to that
    repository and `permissions`; with a plain token, that token."""
    check_target(repo)
    root = Gateway(creds or Credentials.from_env())
    if not root.is_app:
        return root
    owner, name = repo.split("/")
    return root.for_installation(owner, repositories=[name], permissions=permissions)


def fetch(repo: str, sha: str, out: Path, gh: Gateway | None = None) -> Path:
    """Write `git archive --format=tar` of `repo` at `sha` to `out`."""
    check_target(repo, sha)
    gh = gh or gateway_for(repo, {"contents": "read"})
    url = gh.repo(repo)["clone_url"]
    work = Path(tempfile.mkdtemp(prefix="mle-assess-fetch-"))
    try:
        gh.git("init", "--quiet", "--bare", str(work / "repo.git"))
        bare = work / "repo.git"
        try:
            gh.git("fetch", "--quiet", "--depth=1", url, sha, cwd=bare)
        except GitHubError:  # a server that will not serve a SHA by name: fetch the branches
            gh.git("fetch", "--quiet", url, "+refs/heads/*:refs/heads/*", cwd=bare)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        gh.git("archive", "--format=tar", "-o", str(out.resolve()), sha, cwd=bare)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
