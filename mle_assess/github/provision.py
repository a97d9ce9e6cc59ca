"""Publish the template, and turn a roster into candidate repositories. Both are safe to re-run:
every step first looks for what an earlier run made, and does only what is missing.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from mle_assess import TEMPLATE_DIR, __version__
from mle_assess.db.models import Assessment, Candidate
from mle_assess.errors import GitHubNotFound, MleAssessError
from mle_assess.github.gateway import Gateway
from mle_assess.github.post import FEEDBACK_BRANCH, MAIN_BRANCH
from mle_assess.timebox import WINDOW_MINUTES

START_FILE = "START.md"
PULL_TITLE = "Feedback"
LOGIN_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
# A fixed identity and date for the template's commits: the same template gives the same
# commit, so publishing twice pushes nothing.
COMMIT_ENV = {
    "GIT_AUTHOR_NAME": "MLE Assess",
    "GIT_AUTHOR_EMAIL": "mle-assess@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "MLE Assess",
    "GIT_COMMITTER_EMAIL": "mle-assess@users.noreply.github.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}


@dataclass(frozen=True)
class Entry:
    """One roster line."""

    name: str
    login: str


def read_roster(path: Path) -> list[Entry]:
    """A CSV with the header `name,github` (more columns are ignored). Every problem is
    reported at once, by line, before anything is created."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MleAssessError(f"cannot read the roster {path}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"name", "github"} <= {f.strip() for f in reader.fieldnames}:
        raise MleAssessError(f"{path}: the first line must name the columns name and github")
    entries, problems, seen = [], [], set()
    for number, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        name, login = row.get("name", ""), row.get("github", "").lstrip("@")
        if not name or not login:
            problems.append(f"line {number}: name and github are both required")
        elif not set(login) <= LOGIN_CHARS or len(login) > 39 or login.startswith("-"):
            problems.append(f"line {number}: {login[:40]!r} is not a GitHub username")
        elif login.lower() in seen:
            problems.append(f"line {number}: {login} is listed twice")
        else:
            seen.add(login.lower())
            entries.append(Entry(name, login))
    if problems:
        raise MleAssessError(f"{path} has problems; nothing was created:\n" + "\n".join(problems))
    if not entries:
        raise MleAssessError(f"{path} lists no candidate")
    return entries


def publish_template(
    gh: Gateway,
    template_repo: str,
    *,
    source: Path = TEMPLATE_DIR,
    echo: Callable[[str], None] = print,
) -> str:
    """Push `source` as the main branch of the private template repository `template_repo`,
    creating it if needed. Returns the commit on main."""
    org, name = template_repo.split("/")
    try:
        repo = gh.repo(template_repo)
        echo(f"[template] {template_repo} exists")
    except GitHubNotFound:
        repo = gh.create_org_repo(org, name, private=True, is_template=True)
        echo(f"[template] created {template_repo} (private, a template)")
    work = Path(tempfile.mkdtemp(prefix="mle-assess-template-"))
    try:
        tree = work / "tree"
        gh.git("init", "--quiet", "--initial-branch", MAIN_BRANCH, str(tree))
        if gh.branch_sha(template_repo, MAIN_BRANCH):
            gh.git("fetch", "--quiet", repo["clone_url"], MAIN_BRANCH, cwd=tree)
            gh.git("reset", "--quiet", "--soft", "FETCH_HEAD", cwd=tree)
        for item in tree.iterdir():
            if item.name != ".git":
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        shutil.copytree(source, tree, dirs_exist_ok=True, ignore=_ignored)
        _git(tree, "add", "--all")
        if _git(tree, "status", "--porcelain").strip():
            _git(tree, "commit", "--quiet", "-m", f"MLE Assess template {__version__}")
            gh.git("push", "--quiet", repo["clone_url"], f"HEAD:refs/heads/{MAIN_BRANCH}", cwd=tree)
            echo(f"[template] pushed {source} to {template_repo}")
        else:
            echo("[template] already up to date")
        return _git(tree, "rev-parse", "HEAD").strip()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ignored(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in ("__pycache__", ".pytest_cache") or n.endswith(".pyc")}


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **COMMIT_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise MleAssessError(f"git {args[0]} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def start_text(entry: Entry, minutes: int) -> str:
    """The candidate's start file: who it is for, the window, and the rules in brief."""
    return (
        f"# MLE Assess: {entry.name}\n\n"
        f"This repository is yours (@{entry.login}) for the MLE Assess assessment.\n\n"
        f"- **Your window** is {minutes} minutes. It opens when you accept the invitation to "
        "this repository; pushes received after it closes are graded but do not count.\n"
        "- **What counts** is the last commit you push to `main` inside the window, timed by "
        "when GitHub receives the push (not by the commit's own date).\n"
        "- **Feedback** on every push appears as a check on the commit and as a comment on the "
        "pull request named Feedback. Scores are shown after the window closes.\n"
        "- **The rules** are in README.md: read it first.\n"
    )


def provision(
    gh: Gateway,
    roster: list[Entry],
    *,
    org: str,
    template: str,
    team: str,
    prefix: str,
    sessions: sessionmaker,
    assessment: str,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Make (or complete) each candidate's repository; returns their full names."""
    with sessions.begin() as session:
        record = session.scalar(select(Assessment).where(Assessment.name == assessment))
        if record is None:
            record = Assessment(name=assessment, version=__version__, window_minutes=WINDOW_MINUTES)
            session.add(record)
        minutes = record.window_minutes
    made = []
    for number, entry in enumerate(roster, start=1):
        repo = f"{org}/{prefix}{entry.login}"

        def step(text: str, number: int = number, repo: str = repo) -> None:
            echo(f"[{number}/{len(roster)}] {repo}: {text}")

        pull = _provision_one(gh, entry, repo, template, team, minutes, step)
        with sessions.begin() as session:
            assessment_row = session.scalar(select(Assessment).where(Assessment.name == assessment))
            found = session.scalar(select(Candidate).where(Candidate.repo == repo))
            if found is None:
                session.add(
                    Candidate(
                        assessment_id=assessment_row.id,
                        name=entry.name,
                        login=entry.login,
                        repo=repo,
                        feedback_pull=pull,
                    )
                )
                step("recorded")
            else:
                found.feedback_pull = pull
        made.append(repo)
    return made


def _provision_one(
    gh: Gateway,
    entry: Entry,
    repo: str,
    template: str,
    team: str,
    minutes: int,
    step: Callable[[str], None],
) -> int:
    """Make or complete one repository; returns the feedback pull request's number."""
    org, name = repo.split("/")
    try:
        if not gh.repo(repo)["private"]:
            raise MleAssessError(f"{repo} exists and is public; make it private, then run again")
        step("repository exists")
    except GitHubNotFound:
        gh.generate_repo(template, org, name, private=True)
        step("created from the template (private)")
    base = _wait_for_main(gh, repo)
    gh.grant_team(org, team, repo, "pull")
    step(f"team {team} can read")
    if gh.branch_sha(repo, FEEDBACK_BRANCH) is None:
        gh.create_branch(repo, FEEDBACK_BRANCH, base)
        step(f"branch {FEEDBACK_BRANCH} made at the template's commit")
    joined = gh.is_collaborator(repo, entry.login)
    if not joined:  # once the candidate has joined, main is theirs: never written again
        gh.put_file(
            repo,
            START_FILE,
            start_text(entry, minutes),
            f"Start file for {entry.name}",
            MAIN_BRANCH,
        )
        step(f"{START_FILE} on {MAIN_BRANCH}")
    pull = gh.find_pull(repo, MAIN_BRANCH, FEEDBACK_BRANCH)
    if pull is None:
        pull = gh.open_pull(
            repo,
            PULL_TITLE,
            MAIN_BRANCH,
            FEEDBACK_BRANCH,
            "MLE Assess posts its feedback on your pushes here. Please leave this pull request "
            "open and do not merge it.",
        )
        step("feedback pull request opened")
    else:
        step("feedback pull request exists")
    # The invitation goes last, so a candidate never meets a half-made repository.
    if joined:
        step(f"{entry.login} already collaborates")
    elif entry.login.lower() in (i.lower() for i in gh.pending_invitees(repo)):
        step(f"{entry.login} already invited")
    else:
        gh.invite(repo, entry.login, "push")
        step(f"invited {entry.login} (push)")
    return pull


def _wait_for_main(gh: Gateway, repo: str, attempts: int = 20) -> str:
    """GitHub fills a repository made from a template a moment after answering: wait for main."""
    for _ in range(attempts):
        sha = gh.branch_sha(repo, MAIN_BRANCH)
        if sha:
            return sha
        gh.sleep(0.5)
    raise MleAssessError(f"{repo} has no {MAIN_BRANCH} branch yet; run provision again shortly")
