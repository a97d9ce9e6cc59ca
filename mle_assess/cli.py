"""The `mle-assess` command line: thin commands that parse, forward and report."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import click

from mle_assess import __version__
from mle_assess.errors import MleAssessError
from mle_assess.logsafe import for_log


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(for_log(str(exc)))


@click.group()
@click.version_option(__version__, prog_name="mle-assess")
def main() -> None:
    """MLE Assess: grade Machine Learning Engineer assessments with hidden tests."""


@main.command()
@click.argument("submission_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for results.json, report.md and the reviewer's logs.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of the hidden data and requests (default: the assessment's).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Scoring config file (weights and limits).",
)
@click.option(
    "--isolation",
    type=click.Choice(["auto", "full", "reduced"]),
    default="auto",
    show_default=True,
    help="Sandbox for candidate code: full needs root (use it for official grades); auto "
    "falls back to reduced without root.",
)
@click.option(
    "--template",
    "template_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The template the candidate was given, as a folder (default: this checkout's "
    "template_repo/); protected files are compared with it.",
)
@click.option(
    "--template-ref",
    default=None,
    help="The template repository's commit the candidate's repository was made from "
    "(recorded by provision, passed by the trusted dispatch); named in the results.",
)
def grade(
    submission_dir: Path,
    out: Path,
    seed: int | None,
    config_path: Path | None,
    isolation: str,
    template_dir: Path | None,
    template_ref: str | None,
) -> None:
    """Grade one submission folder and write DIR/results.json and DIR/report.md.

    Exits 0 whenever grading finished, whatever the score; non-zero only when the grader
    itself could not run.
    """
    from mle_assess import grade as grading
    from scoring.config import ConfigError, load_config

    kwargs: dict = {} if seed is None else {"seed": seed}
    if template_dir is not None:
        kwargs["template"] = template_dir
    if template_ref is not None:
        if not re.fullmatch(r"[0-9a-f]{40}", template_ref):
            raise click.BadParameter(
                "a full commit SHA, 40 lowercase hex digits", param_hint="--template-ref"
            )
        kwargs["template_ref"] = template_ref
    try:
        config = load_config(config_path)
        results = grading.main(
            submission=submission_dir, out=out, config=config, isolation=isolation, **kwargs
        )
    except (MleAssessError, ConfigError) as exc:
        raise _fail(exc) from exc
    except Exception as exc:  # a grader bug: show it, but never raw in a CI log
        click.echo(for_log(traceback.format_exc()), err=True)
        raise click.ClickException("grading failed with an internal error (above)") from exc
    click.echo(for_log(results.summary()))
    if results.data["extra_data"]["isolation"] != "full":
        click.echo(
            "warning: isolation was reduced (the grader is not root): candidate code ran "
            "without namespaces or sandbox users; do not use this result as an official grade",
            err=True,
        )
    click.echo(for_log(f"wrote {out / 'results.json'} and {out / 'report.md'}"))


@main.command()
@click.option(
    "--port", type=int, default=8000, show_default=True, help="Port of the board on 127.0.0.1."
)
@click.option("--no-serve", is_flag=True, help="Stop after the summary table.")
@click.option(
    "--db", "db_url", default=None, help="Database URL (default: SQLite in the demo's folder)."
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path(".demo"),
    show_default=True,
    help="Folder for the samples, results and database.",
)
@click.option(
    "--cohort",
    type=click.IntRange(0, 10_000),
    default=200,
    show_default=True,
    help="Generated candidates added for the charts.",
)
def demo(port: int, no_serve: bool, db_url: str | None, workdir: Path, cohort: int) -> None:
    """Grade the sample submissions, store the results with a generated cohort, and serve the
    board on 127.0.0.1 with demo accounts."""
    from mle_assess.demo import main as run_demo

    if not no_serve:
        _check_port(port)  # before minutes of grading, not after
    try:
        made = run_demo(workdir=workdir, db_url=db_url, echo=click.echo, cohort=cohort)
    except MleAssessError as exc:
        raise _fail(exc) from exc
    click.echo("\nDemo accounts (this demo's database only):")
    for line in made.login_lines():
        click.echo(line)
    if no_serve:
        return
    from mle_assess.board import create_app

    # Plain HTTP on loopback: browsers keep Secure cookies for 127.0.0.1, so none is relaxed.
    try:
        app = create_app(made.url)
    except MleAssessError as exc:
        raise _fail(exc) from exc
    _serve(app, port)


def _serve(app, port: int) -> None:  # noqa: ANN001 - a WSGI app
    """Serve `app` on 127.0.0.1:`port` with waitress until interrupted."""
    _run(_bind(app, port), port)


MAX_REQUEST_BODY = 26 * 1024 * 1024  # a webhook body of 25 MB and its headers' margin


def _bind(app, port: int, trusted_proxy: str | None = None):  # noqa: ANN001, ANN202 - waitress
    """A waitress server listening on 127.0.0.1:`port`. Behind a proxy at `trusted_proxy`,
    the client's address (for the sign-in throttle) and scheme come from its X-Forwarded-*
    headers; from anyone else those headers are dropped."""
    from waitress.server import create_server

    proxy = {}
    if trusted_proxy:
        proxy = {
            "trusted_proxy": trusted_proxy,
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            "clear_untrusted_proxy_headers": True,
        }
    _check_port(port)  # waitress leaks its sockets when a bind fails: find out first
    try:
        return create_server(
            app,
            host="127.0.0.1",
            port=port,
            threads=8,
            ident="mle-assess",
            # Nothing the board takes is larger than a webhook (GitHub caps them at 25 MB):
            # waitress refuses a bigger body before buffering it (its default is 1 GB).
            max_request_body_size=MAX_REQUEST_BODY,
            **proxy,
        )
    except OSError as exc:  # taken in the moment since the check
        raise _cannot_listen(port, exc) from exc


def _check_port(port: int) -> None:
    """Fail now, with the way out, if 127.0.0.1:`port` cannot be listened on."""
    import socket

    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    except OSError as exc:
        raise _cannot_listen(port, exc) from exc


def _cannot_listen(port: int, exc: OSError) -> click.ClickException:
    return click.ClickException(
        f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another with --port"
    )


def _run(server, port: int) -> None:  # noqa: ANN001 - a waitress server
    """Run `server` until interrupted; the address is printed once the port is listening."""
    click.echo(f"board on http://127.0.0.1:{port}/ (Ctrl-C stops it)")
    try:
        server.run()
    except KeyboardInterrupt:
        click.echo("board stopped")
    finally:
        server.close()


@main.group()
def runtime() -> None:
    """The grading runtime: the Python environment candidate code runs on."""


@runtime.command("install")
@click.option(
    "--path",
    "location",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to build it (default: /opt/mle-assess/runtime-HASH as root).",
)
@click.option(
    "--python",
    "python",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MLE_ASSESS_RUNTIME_PYTHON",
    default=None,
    help="The Python 3.11 to build it from (default: /usr/bin/python3.11, else "
    "/usr/bin/python3). On a GitHub runner: setup-python's python-path output. "
    "Also read from MLE_ASSESS_RUNTIME_PYTHON.",
)
def runtime_install(location: Path | None, python: Path | None) -> None:
    """Build the grading runtime from template_repo/requirements.txt (skipped when current,
    and built again when --python names another interpreter than it was built from)."""
    from mle_assess import runtime as rt

    try:
        built = rt.install(location, python=str(python) if python else None, echo=click.echo)
    except MleAssessError as exc:
        raise _fail(exc) from exc
    click.echo(f"grading runtime: {built.root}")


@runtime.command("path")
def runtime_path() -> None:
    """Print the grading runtime's Python, or fail if it is not installed."""
    from mle_assess import runtime as rt

    try:
        click.echo(rt.find().python)
    except MleAssessError as exc:
        raise _fail(exc) from exc


@main.command("db-upgrade")
@click.option(
    "--db", "db_url", default="sqlite:///mle-assess.db", show_default=True, help="Database URL."
)
def db_upgrade(db_url: str) -> None:
    """Create or migrate the database to the newest schema."""
    from mle_assess.db import upgrade
    from mle_assess.db.session import database_url, describe

    try:
        upgrade(db_url)
    except MleAssessError as exc:
        raise _fail(exc) from exc
    click.echo(f"{describe(database_url(db_url))} is up to date")


@main.command()
@click.option("--repo", required=True, help="Candidate repository, OWNER/NAME.")
@click.option("--sha", required=True, help="The full 40-character commit SHA to fetch.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The tarball to write (git archive, tar format).",
)
def fetch(repo: str, sha: str, out: Path) -> None:
    """Fetch one commit of a candidate repository as a git-archive tarball.

    With a GitHub App (MLE_ASSESS_APP_ID, MLE_ASSESS_APP_PRIVATE_KEY) it uses a token that can
    only read that one repository.
    """
    from mle_assess.github.fetch import fetch as fetch_commit

    try:
        written = fetch_commit(repo, sha, out)
    except MleAssessError as exc:
        raise _fail(exc) from exc
    click.echo(for_log(f"wrote {written} ({written.stat().st_size} bytes) for {repo}@{sha[:7]}"))


@main.command()
@click.argument("results_dir", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--repo", help="Candidate repository, OWNER/NAME.")
@click.option("--sha", help="The commit the results are for.")
@click.option("--neutral", is_flag=True, help="Post a neutral check: grading did not run.")
@click.option("--final", is_flag=True, help="Post the final score (after the window closed).")
@click.option("--reason", default="infrastructure failure", help="Why, with --neutral.")
@click.option("--retry-outbox", is_flag=True, help="Deliver what waits in the outbox.")
@click.option(
    "--outbox",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Outbox folder (default: $MLE_ASSESS_OUTBOX, else .mle-assess/outbox).",
)
def post(
    results_dir: Path | None,
    repo: str | None,
    sha: str | None,
    neutral: bool,
    final: bool,
    reason: str,
    retry_outbox: bool,
    outbox: Path | None,
) -> None:
    """Post results: check run, sticky pull-request comment, job summary, board.

    Exits 0 when everything was delivered, 3 when some of it waits in the outbox, and 1 when
    it cannot be posted at all (bad input or credentials).
    """
    import os

    from mle_assess.github import post as posting
    from mle_assess.github.fetch import check_target, gateway_for

    folder = outbox or Path(os.environ.get("MLE_ASSESS_OUTBOX") or ".mle-assess/outbox")
    box, targets = posting.Outbox(folder), posting.Targets.from_env()
    permissions = {
        "checks": "write",
        "contents": "read",
        "issues": "write",
        "pull_requests": "write",
        "statuses": "write",
    }
    try:
        if retry_outbox:
            done, waiting = posting.retry_outbox(
                lambda r: gateway_for(r, permissions), targets, box
            )
            click.echo(f"outbox: {done} delivered, {waiting} still waiting in {folder}")
            if waiting:
                raise SystemExit(3)
            return
        if not repo or not sha:
            raise click.UsageError("--repo and --sha are required (or use --retry-outbox)")
        check_target(repo, sha)
        if neutral:
            delivery = posting.neutral(repo, sha, reason, final=final)
        elif results_dir is None:
            raise click.UsageError("give the RESULTS_DIR to post (or --neutral)")
        else:
            delivery = posting.load(results_dir, repo, sha, final=final)
        done = posting.deliver(delivery, gateway_for(repo, permissions), targets, box)
    except posting.PostingDeferred as exc:
        click.echo(for_log(str(exc)), err=True)
        raise SystemExit(3) from exc
    except MleAssessError as exc:
        raise _fail(exc) from exc
    click.echo(for_log(f"posted {repo}@{sha[:7]}: {', '.join(done)}"))


def _env(name: str, value: str | None) -> str:
    """An option's value, else the environment variable's, else a usage error."""
    import os

    found = value or os.environ.get(name)
    if not found:
        raise click.UsageError(f"set {name} or pass the option")
    return found


@main.command("publish-template")
@click.option("--repo", "template", default=None, help="Template repository, ORG/NAME "
              "(default: $MLE_ASSESS_TEMPLATE_REPO).")  # fmt: skip
def publish_template(template: str | None) -> None:
    """Push template_repo/ to the organisation's private template repository."""
    from mle_assess.github import provision as prov
    from mle_assess.github.fetch import check_target
    from mle_assess.github.gateway import Credentials, Gateway

    template = _env("MLE_ASSESS_TEMPLATE_REPO", template)
    try:
        check_target(template)
        gh = _org_gateway(Gateway(Credentials.from_env()), template.split("/")[0])
        sha = prov.publish_template(gh, template, echo=lambda t: click.echo(for_log(t)))
    except MleAssessError as exc:
        raise _fail(exc) from exc
    click.echo(f"template {template} at {sha}")


def _org_gateway(root, org: str):
    """The App's installation on `org` (or the plain token's own identity)."""
    return root.for_installation(org) if root.is_app else root


@main.command()
@click.argument("roster", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--org", default=None, help="Organisation (default: $MLE_ASSESS_ORG).")
@click.option("--template", default=None, help="Template repository, ORG/NAME "
              "(default: $MLE_ASSESS_TEMPLATE_REPO).")  # fmt: skip
@click.option("--team", default="reviewers", show_default=True, help="Reviewers' team slug.")
@click.option("--prefix", default="mle-", show_default=True, help="Repository name prefix.")
@click.option("--assessment", default="default", show_default=True, help="Assessment name.")
@click.option("--db", "db_url", default=None, help="Database URL (default: $MLE_ASSESS_DB).")
def provision(
    roster: Path,
    org: str | None,
    template: str | None,
    team: str,
    prefix: str,
    assessment: str,
    db_url: str | None,
) -> None:
    """Create a private repository per candidate in ROSTER.csv (columns name,github).

    Each gets: the template's files, an invitation with push permission, read access for the
    reviewers' team, a feedback branch, the candidate's START.md on main, and a "Feedback"
    pull request. Every missing repository is generated first, then each is completed once
    GitHub has finished making it; the writes are paced under GitHub's limits, and the run
    says at its start how long that will take. An expired invitation is sent again. Re-running
    is safe: finished steps are skipped. Exits non-zero naming any candidate left unfinished.
    """
    from mle_assess.db import connect
    from mle_assess.github import provision as prov
    from mle_assess.github.gateway import Credentials, Gateway

    org = _env("MLE_ASSESS_ORG", org)
    template = _env("MLE_ASSESS_TEMPLATE_REPO", template)
    db_url = _env("MLE_ASSESS_DB", db_url)
    try:
        entries = prov.read_roster(roster)
        _, sessions = connect(db_url)
        gh = _org_gateway(Gateway(Credentials.from_env()), org)
        made = prov.provision(
            gh,
            entries,
            org=org,
            template=template,
            team=team,
            prefix=prefix,
            sessions=sessions,
            assessment=assessment,
            echo=lambda t: click.echo(for_log(t)),
        )
    except prov.ProvisionIncomplete as exc:
        # The finished ones are usable now; the exit status says the roster is not done.
        click.echo(f"{len(exc.made)} candidate repositories ready")
        raise _fail(exc) from exc
    except MleAssessError as exc:
        raise _fail(exc) from exc
    click.echo(f"{len(made)} candidate repositories ready")


def _sweep_options(command):  # noqa: ANN001, ANN202 - decorates a click command
    """The options `sweep` and `finalize` share."""
    options = [
        click.option("--org", default=None, help="Organisation (default: $MLE_ASSESS_ORG)."),
        click.option(
            "--assessment-repo",
            default=None,
            help="Where grade.yml runs, ORG/NAME (default: $MLE_ASSESS_ASSESSMENT_REPO).",
        ),
        click.option(
            "--prefix", default="mle-", show_default=True, help="Candidate repository prefix."
        ),
        click.option(
            "--db",
            "db_url",
            default=None,
            help="Read trusted times from this database (the board's) instead of GitHub's "
            "activity and events APIs.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _sweeping(
    final: bool, org: str | None, assessment_repo: str | None, prefix: str, db_url: str | None
) -> None:
    import os
    from datetime import UTC, datetime

    from mle_assess.errors import BoardError
    from mle_assess.github import sweep as sweeping
    from mle_assess.github.gateway import Credentials, Gateway

    org = _env("MLE_ASSESS_ORG", org)
    assessment_repo = _env("MLE_ASSESS_ASSESSMENT_REPO", assessment_repo)
    db_url = db_url or os.environ.get("MLE_ASSESS_DB") or None
    root = Gateway(Credentials.from_env())
    if not root.is_app:
        raise MleAssessError(
            "sweep and finalize need the GitHub App: only its check runs show what was graded"
        )
    reader = _org_gateway(root, org)
    writer = _org_gateway(root, assessment_repo.split("/")[0])
    act = sweeping.finalize_one if final else sweeping.sweep_one
    now = datetime.now(UTC)
    # Each candidate is graded against the template they were given: provision's record in the
    # database, or else as the board (when there is one) has it.
    board_url, board_token = (os.environ.get(f"MLE_ASSESS_BOARD_{n}") for n in ("URL", "TOKEN"))
    templates = None
    if db_url:  # trusted times as the board recorded them, extensions included
        from sqlalchemy import select

        from mle_assess.db import Candidate, connect
        from mle_assess.github.deadline import enforce_access
        from mle_assess.github.queue import template_commits

        _, sessions = connect(db_url)
        templates = template_commits(sessions)
        # First the door: closed windows lose write access, extended ones get it back.
        enforce_access(sessions, reader, now, echo=lambda m: click.echo(for_log(m)))
        with sessions() as session:
            known = {c.repo: sweeping.times_from_db(c) for c in session.scalars(select(Candidate))}
        repos = sorted(known)
    else:
        if board_url and board_token:
            from mle_assess.github.queue import board_templates

            templates = board_templates(board_url, board_token)
        known = {}
        repos = sorted(
            r["full_name"]
            for r in (reader.installation_repos() if reader.is_app else reader.org_repos(org))
            if r["full_name"].split("/")[1].startswith(prefix)
            and r["full_name"].split("/")[0].lower() == org.lower()
        )
    dispatch = sweeping.dispatcher(writer, assessment_repo, templates=templates)
    count = 0
    for number, repo in enumerate(repos, start=1):
        login = repo.split("/")[1].removeprefix(prefix)
        times = known.get(repo) or sweeping.times_from_github(reader, repo, login, now)
        if not db_url and times.window is not None and times.window.is_closed(now):
            _close_door(reader, repo, login, f"[{number}/{len(repos)}] {repo}")
        try:
            sha = act(reader, times, dispatch, now)
        except BoardError as exc:  # the board could not say which template: the next sweep
            click.echo(for_log(f"[{number}/{len(repos)}] {repo}: not dispatched ({exc})"))
            continue
        if sha:
            count += 1
            what = "final grading" if final else "grading"
            click.echo(for_log(f"[{number}/{len(repos)}] {repo}: {what} of {sha[:7]} dispatched"))
    click.echo(f"{len(repos)} repositories checked, {count} dispatched")


def _close_door(reader, repo: str, login: str, label: str) -> None:  # noqa: ANN001 - Gateway
    """Without a database: a closed window's candidate who can still push is dropped to read
    (`deadline.enforce_closed`); a failure is said and left for the next sweep."""
    from mle_assess.errors import GitHubError
    from mle_assess.github.deadline import enforce_closed

    try:
        outcome = enforce_closed(reader, repo, login)
    except GitHubError as exc:
        click.echo(for_log(f"{label}: access not changed ({exc}); trying again next sweep"))
        return
    if outcome is not None:
        said = f"{label}: the window has closed; access {outcome.state}"
        click.echo(for_log(f"{said}: {outcome.error}" if outcome.error else said))


@main.command()
@_sweep_options
def sweep(org: str | None, assessment_repo: str | None, prefix: str, db_url: str | None) -> None:
    """Dispatch grade.yml for pushes that have no result yet (newest push, then official);
    closed windows lose write access."""
    try:
        _sweeping(False, org, assessment_repo, prefix, db_url)
    except MleAssessError as exc:
        raise _fail(exc) from exc


@main.command()
@_sweep_options
def finalize(org: str | None, assessment_repo: str | None, prefix: str, db_url: str | None) -> None:
    """For closed windows, have the official SHA's final score posted (dispatching its final
    grading when it has none); closed windows lose write access."""
    try:
        _sweeping(True, org, assessment_repo, prefix, db_url)
    except MleAssessError as exc:
        raise _fail(exc) from exc


@main.command()
@click.argument("repo")
@click.option("--minutes", type=int, required=True, help="Minutes to add to the window.")
@click.option("--db", "db_url", default=None, help="Database URL (default: $MLE_ASSESS_DB).")
def extend(repo: str, minutes: int, db_url: str | None) -> None:
    """Extend one candidate's window (REPO is their repository, ORG/NAME)."""
    from mle_assess.db import connect
    from mle_assess.github.sweep import extend as extend_window

    db_url = _env("MLE_ASSESS_DB", db_url)
    try:
        _, sessions = connect(db_url)
        with sessions.begin() as session:
            candidate = extend_window(session, repo, minutes)
            deadline = candidate.deadline
            total = candidate.extension_minutes
            candidate_id = candidate.id
    except MleAssessError as exc:
        raise _fail(exc) from exc
    when = f"; the window now closes at {deadline:%Y-%m-%d %H:%M} UTC" if deadline else ""
    click.echo(for_log(f"{repo}: extended by {minutes} minutes ({total} in all){when}"))
    click.echo(for_log(_restore_write(sessions, candidate_id, repo)))


def _restore_write(sessions, candidate_id: int, repo: str) -> str:  # noqa: ANN001 - sessionmaker
    """After an extension: give a reopened window's candidate write access back now, with the
    GitHub App from the environment; without it, the board service or `sweep --db` does."""
    from datetime import UTC, datetime

    from mle_assess.github.deadline import apply
    from mle_assess.github.gateway import Credentials, Gateway

    try:
        root = Gateway(Credentials.from_env())
    except MleAssessError:
        return (
            "write access (if the window had closed) comes back at the board service's next "
            "round, or with the next `sweep --db`"
        )
    try:
        done = apply(sessions, _org_gateway(root, repo.split("/")[0]), candidate_id,
                     datetime.now(UTC))  # fmt: skip
    except MleAssessError as exc:
        return f"write access not restored now ({exc}); the board service tries again"
    if done is None:
        return "repository access unchanged (the window was open, or is still closed)"
    outcome = done[1]
    return f"repository access: {outcome.state}" + (f" ({outcome.error})" if outcome.error else "")


@main.group()
def users() -> None:
    """Board accounts (recruiter, reviewer, admin). Candidates never get one."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["recruiter", "reviewer", "admin"]), required=True)
@click.option("--db", "db_url", default=None, help="Database URL (default: $MLE_ASSESS_DB).")
@click.password_option(help="The password (prompted, at least 12 characters).")
def users_add(username: str, role: str, db_url: str | None, password: str) -> None:
    """Create a board account."""
    from mle_assess.board.auth import add_user
    from mle_assess.db import connect

    db_url = _env("MLE_ASSESS_DB", db_url)
    try:
        _, sessions = connect(db_url)
        with sessions.begin() as session:
            add_user(session, username, password, role)
    except MleAssessError as exc:
        raise _fail(exc) from exc
    click.echo(for_log(f"user {username} ({role}) created"))


@main.command("board-token")
@click.argument("name")
@click.option("--db", "db_url", default=None, help="Database URL (default: $MLE_ASSESS_DB).")
def board_token(name: str, db_url: str | None) -> None:
    """Create a bearer token for POST /api/results; it is shown once, only its digest is kept."""
    from mle_assess.board.api import new_token
    from mle_assess.db import connect

    db_url = _env("MLE_ASSESS_DB", db_url)
    _, sessions = connect(db_url)
    with sessions.begin() as session:
        token = new_token(session, name)
    click.echo(token)


@main.command()
@click.option("--db", "db_url", default=None, help="Database URL (default: $MLE_ASSESS_DB).")
@click.option("--port", type=int, default=8000, show_default=True, help="Port on 127.0.0.1.")
@click.option(
    "--trusted-proxy",
    default=None,
    help="Address of the TLS proxy in front of the board, whose X-Forwarded-For and "
    "X-Forwarded-Proto are believed (default: $MLE_ASSESS_TRUSTED_PROXY; none).",
)
def board(db_url: str | None, port: int, trusted_proxy: str | None) -> None:
    """Serve the board on 127.0.0.1 (put a TLS-terminating proxy in front of it)."""
    import os

    from sqlalchemy import func, select

    from mle_assess.board import create_app
    from mle_assess.db import User
    from mle_assess.db.session import database_url, describe

    db_url = _env("MLE_ASSESS_DB", db_url)
    trusted_proxy = trusted_proxy or os.environ.get("MLE_ASSESS_TRUSTED_PROXY") or None
    hook_secret = os.environ.get("MLE_ASSESS_WEBHOOK_SECRET")
    dispatch = bot_login = None
    github: dict = {}  # what the service's jobs need of GitHub
    try:
        if hook_secret:  # receive GitHub's webhooks too, and dispatch grade.yml from them
            from mle_assess.github import sweep as sweeping
            from mle_assess.github.gateway import Credentials, Gateway
            from mle_assess.github.queue import template_commits, workflow_dispatcher

            assessment_repo = _env("MLE_ASSESS_ASSESSMENT_REPO", None)
            owner = assessment_repo.split("/")[0]
            root = Gateway(Credentials.from_env())
            gh = root.for_installation(owner) if root.is_app else root

            def templates(repo: str) -> str | None:
                """The template commit provision recorded (the app's database, made below)."""
                return template_commits(app.extensions["mle_assess_sessions"])(repo)

            dispatch = workflow_dispatcher(gh, assessment_repo, templates=templates)
            # Pushes by our own App (provisioning's start file) are not graded: its bot login
            # comes from GitHub (GET /app), since App slugs are unique and not ours to assume.
            bot_login = gh.login()
            if root.is_app:  # finalize closed windows (our App's check runs show what is done)
                org = os.environ.get("MLE_ASSESS_ORG") or owner
                github = {
                    "app_gateway": root,  # lists and redelivers the App webhook's deliveries
                    "reader": _org_gateway(root, org),  # also changes write access
                    "final_dispatch": sweeping.dispatcher(gh, assessment_repo, templates=templates),
                    "push_dispatch": dispatch,  # for pushes no webhook brought
                }
            else:
                click.echo(
                    "no GitHub App: closed windows are not finalized and failed webhook "
                    "deliveries are not redelivered by the board",
                    err=True,
                )
        # Session cookies stay Secure: browsers keep them on http://127.0.0.1, and the proxy
        # in front of the board serves HTTPS.
        app = create_app(db_url, webhook_secret=hook_secret, dispatch=dispatch, bot_login=bot_login)
    except MleAssessError as exc:
        raise _fail(exc) from exc
    sessions = app.extensions["mle_assess_sessions"]
    if github.get("reader") is not None:  # an admin's extension gives write access back at once
        app.extensions["mle_assess_gateway"] = github["reader"]
    click.echo(f"database: {describe(database_url(db_url))}")
    with sessions() as session:
        if not session.scalar(select(func.count(User.id))):
            click.echo("no account yet: mle-assess users add NAME --role admin --db URL", err=True)
    server = _bind(app, port, trusted_proxy)  # before the service: a busy port stops here
    from mle_assess.board.service import Service, board_jobs

    def echo(message: str) -> None:
        click.echo(message, err=True)

    # Processing stored deliveries, the redelivery sweep, finalizing, write access at the close,
    # reconciling missed pushes. More periodic jobs are added to this list.
    jobs = board_jobs(
        sessions,
        process=app.extensions.get("mle_assess_process_deliveries"),
        echo=echo,
        **github,
    )
    # Write access at the close runs in a thread of its own, so a long round of the other jobs
    # (many dispatches, GitHub's rate-limit waits) never delays a window's lock-out.
    access = [job for job in jobs if job.name == "access"]
    others = [job for job in jobs if job.name != "access"]
    for group in (access, others):
        if group:
            Service(group, echo=echo).start()
    _run(server, port)


@main.command()
@click.argument("results_json", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--repo", required=True, help="Candidate repository, OWNER/NAME.")
@click.option("--sha", required=True, help="The commit the results are for.")
@click.option("--db", "db_url", default=None, help="Database URL (default: $MLE_ASSESS_DB).")
def ingest(results_json: Path, repo: str, sha: str, db_url: str | None) -> None:
    """Store a results.json on the board, as POST /api/results would (once per repository,
    SHA and grader version)."""
    import json

    import jsonschema

    from mle_assess.board.api import SHA, store
    from mle_assess.db import connect
    from mle_assess.grade.report import validate

    db_url = _env("MLE_ASSESS_DB", db_url)
    if not SHA.match(sha):
        raise click.UsageError("--sha must be a full 40-character commit SHA")
    try:
        data = json.loads(results_json.read_text(encoding="utf-8"))
        validate(data)
    except (ValueError, jsonschema.ValidationError) as exc:
        raise click.ClickException(f"{results_json} is not a valid results.json") from exc
    _, sessions = connect(db_url)
    with sessions.begin() as session:
        outcome, status = store(session, repo, sha, data, True)
    if status >= 400:
        raise click.ClickException(for_log(f"{repo}: {outcome}"))
    click.echo(for_log(f"{repo}@{sha[:7]}: {outcome}"))
