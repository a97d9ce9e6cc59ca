"""Post a grading's results where people look, exactly once, and keep what could not be posted.

Steps, each one an "ensure" that finds what an earlier attempt made before making anything, so
that a retry never duplicates:

1. **check**: with a GitHub App, our check run on exactly that SHA (found by name and by our
   App's id: a candidate's workflow token can create check runs too, and those are never
   ours). With a plain token, a commit status instead, marked non-authoritative.
2. **comment**: one sticky comment on the feedback pull request, found by its hidden marker
   and by our bot's authorship. The marker carries a digest of the text below it, so an edit
   by anyone else shows: the comment is restored and the result gets the flag
   `sticky_comment_edited`.
3. **summary**: the Actions job summary, when `GITHUB_STEP_SUMMARY` is set.
4. **board**: `POST /api/results` to the board, when one is configured.

When a step fails for good (GitHub down, rate limited past the wait allowed), the delivery and
its remaining steps wait in the outbox folder; `mle-assess post --retry-outbox` finishes them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import requests

from mle_assess.errors import GitHubError, GitHubUnavailable, MleAssessError
from mle_assess.github.gateway import Gateway
from mle_assess.grade.report import validate

CHECK_NAME = "MLE Assess"
FINAL_CHECK_NAME = "MLE Assess: final score"
FEEDBACK_BRANCH = "feedback"
MAIN_BRANCH = "main"
MARKER = "<!-- mle-assess:sticky"
MARKER_LINE = re.compile(
    r"\A<!-- mle-assess:sticky sha=([0-9a-f]{40}) final=([01]) digest=([0-9a-f]{64}) -->\n"
)
SUMMARY_LIMIT = 65535  # GitHub's cap on a check run's summary, in UTF-8 bytes
# The comment, which a candidate can interfere with (by editing the pull request), goes last.
STEPS = ("check", "board", "summary", "comment")
STEP_ATTEMPTS = 3
INFRA_FAILURE = "infrastructure-failure"  # the external_id of a neutral "did not run" check
NEUTRAL_TEXT = (
    "An infrastructure problem stopped the grading of this commit (not your code). It will be "
    "graded again; this is not a score."
)


class PostingDeferred(MleAssessError):
    """Some steps could not be done now; they wait in the outbox."""


@dataclass
class Delivery:
    """One grading's results on their way to GitHub and the board."""

    repo: str
    sha: str
    results: dict
    report: str = ""
    neutral: bool = False
    final: bool = False
    flags: list[dict] = field(default_factory=list)
    pending: list[str] = field(default_factory=lambda: list(STEPS))
    authoritative: bool | None = None

    @property
    def check_name(self) -> str:
        return FINAL_CHECK_NAME if self.final else CHECK_NAME

    @property
    def candidate_text(self) -> str:
        if self.neutral:
            return NEUTRAL_TEXT + "\n"
        if self.final:
            return final_text(self.results)
        return str(self.results.get("output", ""))


def final_text(results: dict) -> str:
    """After the deadline: the final scaled score and each module's score (the policy's
    second column), and nothing about hidden checks."""
    extra = results.get("extra_data", {})
    lines = [
        "## MLE Assess: final result",
        "",
        f"Scaled score: **{extra.get('scaled_score')}** (from 200 to 600)",
        "",
        "| module | score |",
        "| --- | --- |",
    ]
    for module, pair in sorted(extra.get("modules", {}).items()):
        lines.append(
            f"| {module.replace('module', 'Module ')} | {pair['score']} of {pair['max_score']} |"
        )
    lines += ["", "This is the result of the last commit you pushed inside your window."]
    return "\n".join(lines) + "\n"


def load(results_dir: Path, repo: str, sha: str, *, final: bool = False) -> Delivery:
    """The delivery for a results folder: results.json (schema-checked) and report.md."""
    path = Path(results_dir) / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        validate(results)
    except jsonschema.ValidationError as exc:
        raise MleAssessError(f"{path} is not a valid results.json: {exc.message}") from exc
    except (OSError, ValueError) as exc:
        raise MleAssessError(f"{path} is missing or not a valid results.json: {exc}") from exc
    report_path = Path(results_dir) / "report.md"
    report = report_path.read_text(encoding="utf-8") if report_path.is_file() else ""
    return Delivery(repo=repo, sha=sha, results=results, report=report, final=final)


def neutral(repo: str, sha: str, reason: str, *, final: bool = False) -> Delivery:
    """An infrastructure failure: a neutral check (on the final check's name for a final
    grading, so finalize tries again) and no score."""
    return Delivery(
        repo=repo,
        sha=sha,
        results={},
        report=f"Grading did not run: {reason}\n",
        neutral=True,
        final=final,
        pending=["check", "summary"],
    )


# --- the steps ----------------------------------------------------------------------------


def ensure_check(delivery: Delivery, gh: Gateway) -> None:
    """Our check run on the SHA (created or updated), or a commit status without an App."""
    title, summary = check_text(delivery)
    conclusion = "success" if delivery.final and not delivery.neutral else "neutral"
    name = delivery.check_name
    if gh.is_app:
        delivery.authoritative = True
        ours = [
            c
            for c in gh.check_runs(delivery.repo, delivery.sha, name)
            if c["app_id"] == gh.app_id() and c["name"] == name
        ]
        output = {"title": title, "summary": summary}
        if ours and delivery.neutral and ours[0]["external_id"] != INFRA_FAILURE:
            return  # an infrastructure failure never replaces a grading that was posted
        if ours:
            gh.update_check_run(
                delivery.repo,
                ours[0]["id"],
                status="completed",
                conclusion=conclusion,
                output=output,
                external_id=INFRA_FAILURE if delivery.neutral else delivery.sha,
            )
        else:
            gh.create_check_run(
                delivery.repo,
                delivery.sha,
                name,
                status="completed",
                conclusion=conclusion,
                output=output,
                external_id=INFRA_FAILURE if delivery.neutral else delivery.sha,
            )
    else:
        delivery.authoritative = False
        gh.create_status(
            delivery.repo,
            delivery.sha,
            state="error" if delivery.neutral else "success",
            description=title,
            context=name,
        )


def check_text(delivery: Delivery) -> tuple[str, str]:
    """The check's title and summary, under the feedback policy (no score before the end)."""
    if delivery.neutral:
        return "Grading did not run", NEUTRAL_TEXT
    if delivery.final:
        score = delivery.results.get("extra_data", {}).get("scaled_score")
        return f"Final score: {score} (200 to 600)", fit(delivery.candidate_text, SUMMARY_LIMIT)
    coding = [
        t
        for t in delivery.results.get("tests", [])
        if {"module3", "module4"} & set(t.get("tags", []))
    ]
    passed = sum(t.get("status") == "passed" for t in coding)
    title = f"{passed} of {len(coding)} coding checks passed"
    return title, fit(delivery.candidate_text, SUMMARY_LIMIT)


def fit(text: str, limit: int) -> str:
    """`text` within `limit` UTF-8 bytes, saying so when it had to be cut. GitHub measures a
    check run's summary and text in bytes, not characters ("summary exceeds a maximum
    bytesize of 65535", github-facts.md #13), so multi-byte text that fits by characters can
    still be refused. The cut falls between characters, and the note fits inside the limit."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    note = "\n\n(cut to fit GitHub's limit; the full text is in the pull-request comment)\n"
    room = limit - len(note.encode("utf-8"))
    if room <= 0:  # a limit too small for the note: as much of the text as fits
        return data[:limit].decode("utf-8", "ignore")
    # The text was valid UTF-8, so only a character cut at the end can be incomplete: drop it.
    return data[:room].decode("utf-8", "ignore") + note


def comment_key() -> bytes:
    """The key of the sticky comment's digest, which a candidate must not be able to compute:
    $MLE_ASSESS_COMMENT_KEY, else one derived from the App's private key (both only in the
    report job)."""
    explicit = os.environ.get("MLE_ASSESS_COMMENT_KEY")
    if explicit:
        return explicit.encode()
    private = os.environ.get("MLE_ASSESS_APP_PRIVATE_KEY", "")
    if not private and os.environ.get("MLE_ASSESS_APP_PRIVATE_KEY_FILE"):
        private = Path(os.environ["MLE_ASSESS_APP_PRIVATE_KEY_FILE"]).read_text(encoding="utf-8")
    secret = private or os.environ.get("MLE_ASSESS_GITHUB_TOKEN", "")
    return hashlib.sha256(b"mle-assess sticky comment\0" + secret.encode()).digest()


def _digest(sha: str, final: bool, text: str) -> str:
    message = f"{sha}|{int(final)}|{text}".encode()
    return hmac.new(comment_key(), message, hashlib.sha256).hexdigest()


def sticky_body(text: str, sha: str = "0" * 40, final: bool = False) -> str:
    """The comment's body: a hidden marker naming the commit it is about and whether it is the
    final result, with a digest of all that and of the text below it."""
    return f"{MARKER} sha={sha} final={int(final)} digest={_digest(sha, final, text)} -->\n{text}"


def marker(body: str) -> tuple[str, bool] | None:
    """The commit and finality a sticky comment claims, or None when its marker is malformed."""
    match = MARKER_LINE.match(body)
    return (match.group(1), match.group(2) == "1") if match else None


def untouched(body: str) -> bool:
    """Whether a sticky comment is still exactly what its marker's digest says we wrote."""
    match = MARKER_LINE.match(body)
    if not match:
        return False
    sha, final, digest = match.group(1), match.group(2) == "1", match.group(3)
    return hmac.compare_digest(_digest(sha, final, body[match.end() :]), digest)


def ensure_comment(delivery: Delivery, gh: Gateway) -> None:
    """One sticky comment from our bot on the feedback pull request, restored if edited.

    It shows the newest push's feedback, by trusted push time: a grading of an older push that
    finishes later leaves it alone, and so does any grading once the final result is shown
    there (later pushes do not count)."""
    number = gh.find_pull(delivery.repo, MAIN_BRANCH, FEEDBACK_BRANCH)
    if number is None:
        raise GitHubError(f"{delivery.repo} has no feedback pull request ({MAIN_BRANCH} into "
                          f"{FEEDBACK_BRANCH}); run `mle-assess provision` again")  # fmt: skip
    me = gh.login()
    # Every comment by our bot is ours, marker or not: removing the marker must not make it
    # someone else's.
    ours = [c for c in gh.comments(delivery.repo, number) if c["author"] == me]
    body = sticky_body(delivery.candidate_text + footer(delivery), delivery.sha, delivery.final)
    if not ours:
        gh.create_comment(delivery.repo, number, body)
        return
    keep, extra = ours[0], ours[1:]
    edited = not untouched(keep["body"])
    if edited:
        flag = {
            "kind": "sticky_comment_edited",
            "detail": "someone other than MLE Assess edited the feedback comment; it was restored",
        }
        if flag not in delivery.flags:
            delivery.flags.append(flag)
    shown = None if edited else marker(keep["body"])
    if shown and not delivery.final and _keeps_its_place(gh, delivery, *shown):
        return
    if keep["body"] != body:
        gh.edit_comment(delivery.repo, number, keep["id"], body)
    for duplicate in extra:
        gh.delete_comment(delivery.repo, number, duplicate["id"])


def _keeps_its_place(gh: Gateway, delivery: Delivery, shown_sha: str, shown_final: bool) -> bool:
    """Whether the comment's current content must stay: it is the final result, or about a
    push newer (by GitHub's receipt time) than the one being posted."""
    if shown_final:
        return True
    if shown_sha == delivery.sha:
        return False
    # Times GitHub recorded at each push (the activity API), never the events API, which may
    # lag by hours and would then know neither push (github-facts.md #6, #7).
    ref = f"refs/heads/{MAIN_BRANCH}"
    times = {
        a["after"]: a["timestamp"]
        for a in reversed(gh.repo_activity(delivery.repo, ref=ref))
        if a["ref"] in (ref, MAIN_BRANCH) and a["after"] and a["timestamp"]
    }
    shown_at, ours_at = times.get(shown_sha), times.get(delivery.sha)
    return shown_at is not None and ours_at is not None and shown_at > ours_at


def footer(delivery: Delivery) -> str:
    extra = delivery.results.get("extra_data", {})
    version = extra.get("assessment_version", "?")
    return f"\n---\nCommit `{delivery.sha[:7]}`, graded by MLE Assess {version}.\n"


def write_summary(delivery: Delivery, path: str | None) -> None:
    """Append to the Actions job summary (this private repository's run page: staff only)."""
    if not path:
        return
    extra = delivery.results.get("extra_data", {})
    lines = [f"## {delivery.repo} @ `{delivery.sha[:7]}`", ""]
    if delivery.neutral:
        lines.append(delivery.report)
    else:
        lines += [f"Scaled score: **{extra.get('scaled_score')}**", "", delivery.report]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def send_board(delivery: Delivery, url: str | None, token: str | None) -> None:
    """`POST {board}/api/results` with the board's bearer token."""
    if not url or delivery.neutral:
        return
    parts = urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise MleAssessError(
            f"the board URL must use https (its token would travel in clear): {url}"
        )
    body = {
        "repo": delivery.repo,
        "sha": delivery.sha,
        "results": _with_flags(delivery),
        "report": delivery.report,
        "authoritative": bool(delivery.authoritative),
    }
    try:
        response = requests.post(
            url.rstrip("/") + "/api/results",
            json=body,
            headers={"Authorization": f"Bearer {token or ''}"},
            timeout=30,
        )
    except requests.RequestException as exc:
        raise GitHubUnavailable(f"the board did not answer: {exc}") from exc
    if response.status_code >= 500:
        raise GitHubUnavailable(f"the board answered {response.status_code}")
    if response.status_code >= 400:
        raise MleAssessError(
            f"the board refused the results: {response.status_code} {response.text[:200]}"
        )


def _with_flags(delivery: Delivery) -> dict:
    results = json.loads(json.dumps(delivery.results))
    flags = results.setdefault("extra_data", {}).setdefault("flags", [])
    flags += [f for f in delivery.flags if f not in flags]
    return results


# --- running them, and the outbox ---------------------------------------------------------


@dataclass
class Outbox:
    """A folder of deliveries waiting for their remaining steps, one JSON file each."""

    folder: Path

    def path(self, delivery: Delivery) -> Path:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", delivery.repo)
        kind = "neutral" if delivery.neutral else "final" if delivery.final else "results"
        return self.folder / f"{name}__{delivery.sha}__{kind}.json"

    def keep(self, delivery: Delivery) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(delivery)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(delivery), indent=2), encoding="utf-8")
        os.replace(partial, path)
        return path

    def drop(self, delivery: Delivery) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(delivery).unlink()

    def waiting(self) -> list[Delivery]:
        if not self.folder.is_dir():
            return []
        return [
            Delivery(**json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(self.folder.glob("*.json"))
        ]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One retrier at a time, so a delivery is never sent twice side by side."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


@dataclass
class Targets:
    """Where a delivery goes besides GitHub."""

    summary_path: str | None = None
    board_url: str | None = None
    board_token: str | None = None

    @classmethod
    def from_env(cls) -> Targets:
        return cls(
            summary_path=os.environ.get("GITHUB_STEP_SUMMARY") or None,
            board_url=os.environ.get("MLE_ASSESS_BOARD_URL") or None,
            board_token=os.environ.get("MLE_ASSESS_BOARD_TOKEN") or None,
        )


def deliver(delivery: Delivery, gh: Gateway, targets: Targets, outbox: Outbox) -> list[str]:
    """Run the delivery's pending steps; returns the steps done.

    The delivery is in the outbox before the first step and leaves it only when every step
    is done, so a crash loses nothing. Each step is tried up to STEP_ATTEMPTS times, each time
    looking again for what an earlier try made; a step that still fails stays pending while
    the others go on, and PostingDeferred says which are left."""
    outbox.keep(delivery)
    done, failed = [], []
    for step in list(delivery.pending):
        error = _attempt(step, delivery, gh, targets)
        if error is None:
            delivery.pending.remove(step)
            done.append(step)
            outbox.keep(delivery)
        else:
            failed.append(f"{step} ({error})")
    if failed:
        path = outbox.keep(delivery)
        raise PostingDeferred(
            f"{delivery.repo}@{delivery.sha[:7]}: not delivered yet: {'; '.join(failed)}; "
            f"kept in {path}: run `mle-assess post --retry-outbox` later"
        )
    outbox.drop(delivery)
    return done


def _attempt(step: str, delivery: Delivery, gh: Gateway, targets: Targets) -> str | None:
    """Run one step; None when it is done, else why it is not."""
    error = "not tried"
    for attempt in range(1, STEP_ATTEMPTS + 1):
        try:
            if step == "check":
                ensure_check(delivery, gh)
            elif step == "comment":
                ensure_comment(delivery, gh)
            elif step == "summary":
                write_summary(delivery, targets.summary_path)
            elif step == "board":
                send_board(delivery, targets.board_url, targets.board_token)
            return None
        except GitHubUnavailable as exc:  # may pass: look again, then try again
            error = str(exc)
            if attempt < STEP_ATTEMPTS:
                gh.sleep(gh.policy.backoff * 2**attempt)
        except (MleAssessError, OSError) as exc:  # will not pass by itself: keep it for later
            return str(exc)
    return error


def retry_outbox(
    gh_for: Callable[[str], Gateway], targets: Targets, outbox: Outbox
) -> tuple[int, int]:
    """Deliver everything waiting; returns (delivered, still waiting). `gh_for(repo)` gives
    the gateway for a repository."""
    delivered = waiting = 0
    with outbox.locked():
        for delivery in outbox.waiting():
            try:
                deliver(delivery, gh_for(delivery.repo), targets, outbox)
                delivered += 1
            except MleAssessError:  # this one waits on; the others are still tried
                waiting += 1
    return delivered, waiting
