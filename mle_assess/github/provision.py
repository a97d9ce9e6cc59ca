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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from mle_assess import TEMPLATE_DIR, __version__
from mle_assess.db.models import Assessment, Candidate
from mle_assess.errors import GitHubError, GitHubNotFound, MleAssessError
from mle_assess.github.gateway import Gateway
from mle_assess.github.post import FEEDBACK_BRANCH, MAIN_BRANCH
from mle_assess.timebox import WINDOW_MINUTES

START_FILE = "START.md"
PULL_TITLE = "Feedback"
# Writes a new candidate costs: generate, team grant, feedback branch, start file, pull
# request, invitation (GitHub's secondary limits count each).
WRITES_PER_CANDIDATE = 6
# How long a generated repository may take to appear before the run gives up on it.
GENERATION_BOUND = timedelta(minutes=10)
# A repository still being generated is looked at again after this, doubling up to the cap.
POLL_SECONDS = 5.0
POLL_CAP = 30.0
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
    creating it if needed. Returns the commit on main.

    Works on a new organisation, on an empty repository left by a failed run (GitHub answers
    409 "Git Repository is empty." for its Git calls, which `branch_sha` reads as "no main
    yet"), and on a re-run, which pushes nothing when the template is unchanged."""
    org, name = template_repo.split("/")
    try:
        repo = gh.repo(template_repo)
        if not repo["private"]:
            raise MleAssessError(
                f"{template_repo} exists and is public; make it private, then run again"
            )
        if repo.get("is_template") is False:
            raise MleAssessError(
                f"{template_repo} exists but is not a template repository; tick 'Template "
                "repository' in its settings, then run again"
            )
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
        else:
            echo(f"[template] {template_repo} has no {MAIN_BRANCH} yet")
        for item in tree.iterdir():
            if item.name != ".git":
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        shutil.copytree(source, tree, dirs_exist_ok=True, ignore=_ignored)
        _git(tree, "add", "--all")
        if _git(tree, "status", "--porcelain").strip():
            _git(tree, "commit", "--quiet", "-m", f"MLE Assess template {__version__}")
            _push(gh, repo["clone_url"], tree)
            echo(f"[template] pushed {source} to {template_repo}")
        else:
            echo("[template] already up to date")
        return _git(tree, "rev-parse", "HEAD").strip()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _push(gh: Gateway, url: str, tree: Path) -> None:
    """Push HEAD to main. GitHub refuses a push that adds or changes anything under
    .github/workflows/ from a GitHub App without the Workflows permission (github.blog
    changelog 2020-04-06 "GitHub Apps: Workflow permission"; the refusal's wording is quoted in
    peter-evans/create-pull-request#1713), or from a token without the workflow scope: say
    which, in one line, instead of git's output."""
    try:
        gh.git("push", "--quiet", url, f"HEAD:refs/heads/{MAIN_BRANCH}", cwd=tree)
    except GitHubError as exc:
        text = str(exc).lower()
        if "workflow" not in text or not ("permission" in text or "scope" in text):
            raise
        if gh.is_app:
            raise MleAssessError(
                "GitHub refused the template's .github/workflows/: the GitHub App lacks the "
                "Workflows permission (Repository permissions > Workflows: Read and write); add "
                "it, approve it on the organisation's installation, then run publish-template "
                "again"
            ) from exc
        raise MleAssessError(
            "GitHub refused the template's .github/workflows/: the token lacks the workflow "
            "scope; add it, then run publish-template again"
        ) from exc


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


class ProvisionIncomplete(MleAssessError):
    """Some candidates are not finished; the others are. `made` lists the finished
    repositories, `unfinished` maps each other repository to the reason."""

    def __init__(self, made: list[str], unfinished: dict[str, str], total: int) -> None:
        self.made, self.unfinished = made, unfinished
        named = [f"{repo}: {why}" for repo, why in unfinished.items()]
        # Each is also in the run's progress lines; the message stays readable for a roster.
        reasons = "; ".join(named[:10]) + (f"; and {len(named) - 10} more" if named[10:] else "")
        super().__init__(
            f"{len(unfinished)} of {total} candidates are unfinished ({reasons}); "
            "run provision again"
        )


@dataclass
class _Waiting:
    """A repository that exists, or is being generated, and is not complete yet."""

    number: int
    entry: Entry
    repo: str
    since: datetime  # when it was generated, or first seen, on the gateway's clock
    due: datetime  # when to look at it next
    interval: float = 0.0  # the last wait before `due`; doubles up to POLL_CAP
    # Generated by this run: nothing can be on it yet but the template's commit, so the
    # look-ups for a feedback branch, a pull request, a collaborator and an invitation are
    # skipped (a third fewer requests for a new roster).
    generated: bool = False


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
    bound: timedelta = GENERATION_BOUND,
) -> list[str]:
    """Make (or complete) each candidate's repository; returns their full names, in roster
    order. When some cannot be finished (still being generated `bound` after they were asked
    for, or a GitHub failure that retries did not get past), the others are finished first,
    then ProvisionIncomplete names them.

    Every missing repository is generated first: GitHub answers `/generate` with 201 before
    the copy exists, and the copy answers Git calls with 409 until it does (docs.github.com
    "Creating a repository from a template"; rollthecloudinc/hedge#251). Each is completed as
    soon as it is ready, while others are still being made. Waits use `gh.sleep` and
    `gh.clock`; the gateway paces the writes under GitHub's secondary limits."""
    run = _Run(gh, sessions, assessment, team, len(roster), echo)
    run.minutes = _assessment_minutes(sessions, assessment)
    template_sha = gh.branch_sha(template, MAIN_BRANCH)
    if template_sha is None:
        raise MleAssessError(
            f"the template {template} has no {MAIN_BRANCH} branch: run publish-template first"
        )
    repos = {e.login: f"{org}/{prefix}{e.login}" for e in roster}
    done_before = _completed(sessions, assessment)
    writes = sum(1 if r in done_before else WRITES_PER_CANDIDATE for r in repos.values())
    echo(
        f"[provision] {len(roster)} candidates, about {writes} writes: "
        f"{_duration(gh.pacing_estimate(writes))} at GitHub's write limits"
    )
    started = gh.clock()
    # One listing instead of a look-up per candidate (a page holds 100 repositories).
    existing = {r["full_name"].lower(): r for r in gh.org_repos(org)}
    waiting = []
    for number, entry in enumerate(roster, start=1):
        repo = repos[entry.login]
        item = run.start(number, entry, repo, existing.get(repo.lower()), template, template_sha)
        if item is not None:
            waiting.append(item)
    run.complete_all(waiting, bound)
    echo(f"[provision] {len(run.made)} of {len(roster)} ready in {_duration(gh.clock() - started)}")
    made = [r for r in repos.values() if r in run.made]
    if run.unfinished:
        raise ProvisionIncomplete(made, run.unfinished, len(roster))
    return made


@dataclass
class _Run:
    """One provisioning run: what it talks to, and what it finished or could not."""

    gh: Gateway
    sessions: sessionmaker
    assessment: str
    team: str
    total: int
    echo: Callable[[str], None]
    minutes: int = WINDOW_MINUTES
    made: set[str] = field(default_factory=set)
    unfinished: dict[str, str] = field(default_factory=dict)

    def step(self, item: _Waiting) -> Callable[[str], None]:
        """Progress lines for one candidate: `[n/N] org/repo: what happened`."""
        return lambda text: self.echo(f"[{item.number}/{self.total}] {item.repo}: {text}")

    def start(
        self,
        number: int,
        entry: Entry,
        repo: str,
        found: dict | None,
        template: str,
        template_sha: str,
    ) -> _Waiting | None:
        """Generate the repository unless it was `found` (one write) and record the template
        commit it comes from; None when it cannot be provisioned."""
        org, name = repo.split("/")
        item = _Waiting(number, entry, repo, self.gh.clock(), self.gh.clock())
        if found is not None:
            if not found["private"]:
                self.unfinished[repo] = "exists and is public; make it private"
                return None
            self.step(item)("repository exists")
            return item
        try:
            self.gh.generate_repo(template, org, name, private=True)
        except GitHubError as exc:
            self.unfinished[repo] = str(exc)
            return None
        item.since = item.due = self.gh.clock()
        item.generated = True
        # Recorded now, so an interrupted run still knows which template version it was.
        self.record(item, template_commit=template_sha)
        self.step(item)(f"generating from {template} at {template_sha[:7]} (private)")
        return item

    def complete_all(self, waiting: list[_Waiting], bound: timedelta) -> None:
        """Complete each repository once its main branch exists. One still being generated
        is looked at again after a growing interval, and given up `bound` after it was
        generated (or first seen); the others carry on meanwhile."""
        while waiting:
            for item in sorted(waiting, key=lambda w: w.due):
                if item.due <= self.gh.clock() and self.attempt(item, bound):
                    waiting.remove(item)
            if waiting:
                wait = (min(w.due for w in waiting) - self.gh.clock()).total_seconds()
                if wait > 0:
                    self.gh.sleep(wait)

    def attempt(self, item: _Waiting, bound: timedelta) -> bool:
        """Complete `item` if it is ready; True when it is finished with (done or given up)."""
        step = self.step(item)
        try:
            base = self.gh.branch_sha(item.repo, MAIN_BRANCH)
            if base is None:
                now = self.gh.clock()
                if now - item.since >= bound:
                    self.unfinished[item.repo] = (
                        f"still being generated {_duration(now - item.since)} later"
                    )
                    step("not ready in time: left for the next run")
                    return True
                item.interval = min(max(2 * item.interval, POLL_SECONDS), POLL_CAP)
                item.due = now + timedelta(seconds=item.interval)
                return False
            pull, invitation = _complete(self, item, base)
        except GitHubError as exc:
            self.unfinished[item.repo] = str(exc)
            step(f"failed: {exc}")
            return True
        self.record(item, feedback_pull=pull, invitation=invitation)
        self.made.add(item.repo)
        step(f"ready ({len(self.made)} of {self.total} done)")
        return True

    def record(self, item: _Waiting, **fields: object) -> None:
        """Create or update the candidate's row with `fields`."""
        with self.sessions.begin() as session:
            found = session.scalar(select(Candidate).where(Candidate.repo == item.repo))
            if found is None:
                assessment = session.scalar(
                    select(Assessment).where(Assessment.name == self.assessment)
                )
                found = Candidate(
                    assessment_id=assessment.id,
                    name=item.entry.name,
                    login=item.entry.login,
                    repo=item.repo,
                )
                session.add(found)
            for key, value in fields.items():
                setattr(found, key, value)


def _assessment_minutes(sessions: sessionmaker, assessment: str) -> int:
    """The assessment's window length, creating the assessment if this is its first run."""
    with sessions.begin() as session:
        record = session.scalar(select(Assessment).where(Assessment.name == assessment))
        if record is None:
            record = Assessment(name=assessment, version=__version__, window_minutes=WINDOW_MINUTES)
            session.add(record)
        return record.window_minutes


def _completed(sessions: sessionmaker, assessment: str) -> set[str]:
    """The assessment's repositories an earlier run completed (its pull request recorded)."""
    with sessions() as session:
        return set(
            session.scalars(
                select(Candidate.repo)
                .join(Assessment)
                .where(Assessment.name == assessment, Candidate.feedback_pull.is_not(None))
            )
        )


def _complete(run: _Run, item: _Waiting, base: str) -> tuple[int, str]:
    """Complete one repository whose main exists; returns the feedback pull request's number
    and the invitation's state ("pending" or "accepted")."""
    gh, entry, repo, step = run.gh, item.entry, item.repo, run.step(item)
    gh.grant_team(repo.split("/")[0], run.team, repo, "pull")
    step(f"team {run.team} can read")
    if item.generated or gh.branch_sha(repo, FEEDBACK_BRANCH) is None:
        gh.create_branch(repo, FEEDBACK_BRANCH, base)
        step(f"branch {FEEDBACK_BRANCH} made at the template's commit")
    joined = not item.generated and gh.is_collaborator(repo, entry.login)
    if not joined:  # once the candidate has joined, main is theirs: never written again
        text = start_text(entry, run.minutes)
        gh.put_file(repo, START_FILE, text, f"Start file for {entry.name}", MAIN_BRANCH)
        step(f"{START_FILE} on {MAIN_BRANCH}")
    pull = None if item.generated else gh.find_pull(repo, MAIN_BRANCH, FEEDBACK_BRANCH)
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
        return pull, "accepted"
    return pull, _invite(run, item)


def _invite(run: _Run, item: _Waiting) -> str:
    """Invite the candidate unless a live invitation waits. An invitation expires after 7
    days and stays listed with `"expired": true`; inviting again needs the old one deleted
    (community discussions #40572 and #209255; REST "Repository invitations")."""
    gh, login, repo, step = run.gh, item.entry.login, item.repo, run.step(item)
    listed = [] if item.generated else gh.invitations(repo)
    mine = [i for i in listed if i["login"].lower() == login.lower()]
    if any(not i["expired"] for i in mine):
        step(f"{login} already invited")
        return "pending"
    if mine:
        run.record(item, invitation="expired")  # what the board shows if this run stops here
        for old in mine:
            gh.delete_invitation(repo, old["id"])
        step(f"{login}'s invitation expired: deleted")
    if not gh.invite(repo, login, "push"):
        step(f"{login} already collaborates")
        return "accepted"
    step(f"{'invited again' if mine else 'invited'} {login} (push)")
    return "pending"


# How often the board service looks at invitations not yet accepted, and at candidates who
# accepted but whose window never opened.
INVITATIONS_EVERY = timedelta(minutes=10)


def refresh_invitations(
    sessions: sessionmaker,
    gh: Gateway,
    echo: Callable[[str], None] = print,
    now: datetime | None = None,
) -> list[str]:
    """For the board service: each candidate whose window has not opened is looked at.

    - A pending invitation GitHub let expire is recorded as "expired", so the board shows it
      until `provision` invites them again (`GET .../invitations`).
    - One that is gone while they collaborate is "accepted". If their window is still not
      open then, their `member` webhook was lost beyond redelivery: the window is opened at
      GitHub's own record of the acceptance (`sweep.open_window_from_github`), never later.

    A GitHub failure costs only that candidate. Returns the repositories whose state changed."""
    from mle_assess.github.sweep import open_window_from_github

    with sessions() as session:
        waiting = session.execute(
            select(Candidate.id, Candidate.repo, Candidate.login, Candidate.invitation).where(
                Candidate.invitation.in_(("pending", "accepted")), Candidate.started_at.is_(None)
            )
        ).all()
    changed = []
    for candidate_id, repo, login, was in waiting:
        state = was
        try:
            if state == "pending":
                mine = [i for i in gh.invitations(repo) if i["login"].lower() == login.lower()]
                if mine:
                    state = "pending" if any(not i["expired"] for i in mine) else "expired"
                else:
                    state = "accepted" if gh.is_collaborator(repo, login) else "pending"
            opened = None
            if state == "accepted":
                with sessions.begin() as session:
                    candidate = session.get(Candidate, candidate_id)
                    candidate.invitation = state
                    opened = open_window_from_github(session, candidate, gh, now)
        except GitHubError as exc:
            echo(f"invitations of {repo}: {exc}; trying again later")
            continue
        if state == "expired":
            with sessions.begin() as session:
                session.get(Candidate, candidate_id).invitation = state
        if state != was:
            echo(f"invitation of {login} to {repo}: {state}")
        if state != was or opened is not None:
            changed.append(repo)
        if opened is not None:
            echo(f"window of {login} on {repo} opened at {opened:%Y-%m-%d %H:%M:%S} (GitHub's "
                 "record of the acceptance; its webhook never arrived)")  # fmt: skip
    return changed


def _duration(span: timedelta) -> str:
    """A span for people: "under a minute", "about 7 minutes", "about 1 h 5 min"."""
    minutes = round(span.total_seconds() / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    return f"about {minutes // 60} h {minutes % 60} min"
