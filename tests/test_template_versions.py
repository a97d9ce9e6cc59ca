"""Protected files are compared with the template the candidate was given. A template changed
after they were provisioned (a new check.py, workflow or README) must not flag them, however
often they are regraded; a file they changed themselves still is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mle_assess import TEMPLATE_DIR
from mle_assess.cli import main as cli

pytestmark = pytest.mark.slow

OLD_REF = "1" * 40


def flags(results) -> set[tuple[str, str]]:
    return {(f["kind"], f["detail"].split()[0]) for f in results.data["extra_data"]["flags"]}


@pytest.fixture
def older_template(tmp_path: Path) -> Path:
    """Today's template as it was before a change to its README and check.py."""
    old = Path(shutil.copytree(TEMPLATE_DIR, tmp_path / "template-then"))
    readme = old / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nAn earlier line.\n", "utf-8")
    check = old / "check.py"
    check.write_text(check.read_text(encoding="utf-8") + "\n# an earlier check.py\n", "utf-8")
    return old


@pytest.fixture
def given_then(submission, older_template: Path) -> Path:
    """The reference solution in a repository generated from the older template."""
    folder = submission("reference")
    for name in ("README.md", "check.py"):
        shutil.copyfile(older_template / name, folder / name)
    return folder


def test_an_older_template_flags_nothing_when_graded_against_it(grade, given_then, older_template):
    results, _ = grade(given_then, template=older_template, template_ref=OLD_REF)
    assert flags(results) == set()
    assert results.scaled_score == 600
    assert results.data["extra_data"]["template_ref"] == OLD_REF


def test_against_todays_template_the_same_files_would_be_flagged(grade, given_then):
    results, out = grade(given_then)
    assert flags(results) == {
        ("protected_file_changed", "README.md"),
        ("protected_file_changed", "check.py"),
    }
    assert results.data["extra_data"]["template_ref"] is None
    assert "no template commit given" in (out / "report.md").read_text(encoding="utf-8")


def test_a_file_changed_by_the_candidate_is_still_flagged(grade, given_then, older_template):
    (given_then / "check.py").write_text("print('all good')\n", encoding="utf-8")
    results, out = grade(given_then, template=older_template, template_ref=OLD_REF)
    assert flags(results) == {("protected_file_changed", "check.py")}
    # and the template's copy, as the candidate was given it, is the one used
    assert f"commit `{OLD_REF}`" in (out / "report.md").read_text(encoding="utf-8")


def test_the_command_line_takes_the_template_and_checks_the_ref(tmp_path, older_template):
    runner = CliRunner()
    bad = runner.invoke(
        cli, ["grade", str(tmp_path), "--out", str(tmp_path / "o"), "--template-ref", "main"]
    )
    assert bad.exit_code == 2 and "40 lowercase hex digits" in bad.output
    missing = runner.invoke(
        cli,
        [
            "grade",
            str(older_template),
            "--out",
            str(tmp_path / "o"),
            "--template",
            str(tmp_path / "nowhere"),
        ],
    )
    assert missing.exit_code == 1 and "template folder" in missing.output


def test_the_dispatch_carries_the_recorded_template_commit(github_server, tmp_path):
    """The board's dispatcher and sweep's send provision's record as grade.yml's
    `template_ref` (which the server checks against the real workflow's inputs)."""
    from github_env import ORG, make_env

    from mle_assess import PROJECT_ROOT
    from mle_assess.db import Assessment, Candidate, connect
    from mle_assess.github import queue
    from mle_assess.github import sweep as sweeping

    env = make_env(github_server)
    grade_yml = (PROJECT_ROOT / ".github" / "workflows" / "grade.yml").read_text()
    github_server.create_repo(ORG, "assessment", files={".github/workflows/grade.yml": grade_yml})
    _, sessions = connect(f"sqlite:///{tmp_path / 'board.db'}")
    with sessions.begin() as s:
        round_ = Assessment(name="round", version="1", window_minutes=90)
        s.add(round_)
        s.flush()
        s.add(
            Candidate(
                assessment_id=round_.id,
                name="Ada",
                login="ada",
                repo=f"{ORG}/mle-ada",
                template_commit=OLD_REF,
            )
        )
        s.add(Candidate(assessment_id=round_.id, name="Bo", login="bo", repo=f"{ORG}/mle-bo"))
    templates = queue.template_commits(sessions)
    bot = env.bot()
    queue.workflow_dispatcher(bot, f"{ORG}/assessment", templates=templates)(
        f"{ORG}/MLE-Ada", "a" * 40
    )
    sweeping.dispatcher(bot, f"{ORG}/assessment", templates=templates)(
        f"{ORG}/mle-bo", "b" * 40, True
    )
    first, second = (d["inputs"] for d in github_server.dispatches)
    assert first == {"repo": f"{ORG}/MLE-Ada", "sha": "a" * 40, "template_ref": OLD_REF}
    # No record (a candidate provisioned before template versions): today's template.
    assert second == {"repo": f"{ORG}/mle-bo", "sha": "b" * 40, "final": "true"}


def test_sweep_without_a_database_asks_the_board_for_the_template(github_server, tmp_path):
    """sweep.yml has no database: it asks the board (`GET /api/template`, with the board
    token) for each candidate's template commit, and sends it with the dispatch. A board that
    cannot answer stops that candidate's dispatch (BoardError) rather than grade it against
    today's template."""
    import threading

    from github_env import ORG, make_env
    from werkzeug.serving import make_server

    from mle_assess import PROJECT_ROOT
    from mle_assess.board import create_app
    from mle_assess.board.api import new_token
    from mle_assess.db import Assessment, Candidate
    from mle_assess.errors import BoardError
    from mle_assess.github import queue
    from mle_assess.github import sweep as sweeping

    env = make_env(github_server)
    grade_yml = (PROJECT_ROOT / ".github" / "workflows" / "grade.yml").read_text()
    github_server.create_repo(ORG, "assessment", files={".github/workflows/grade.yml": grade_yml})
    app = create_app(f"sqlite:///{tmp_path / 'board.db'}", secret_key="k")
    sessions = app.extensions["mle_assess_sessions"]
    with sessions.begin() as s:
        round_ = Assessment(name="round", version="1", window_minutes=90)
        s.add(round_)
        s.flush()
        s.add(Candidate(assessment_id=round_.id, name="Ada", login="ada", repo=f"{ORG}/mle-ada",
                        template_commit=OLD_REF))  # fmt: skip
        s.add(Candidate(assessment_id=round_.id, name="Bo", login="bo", repo=f"{ORG}/mle-bo"))
        token = new_token(s, "sweep")
    client = app.test_client()
    ask = "/api/template?repo=acme/MLE-ADA"
    assert client.get(ask).status_code == 401
    assert client.get(ask, headers={"Authorization": "Bearer nope"}).status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/template?repo=../x", headers=bearer).status_code == 400
    assert client.get("/api/template?repo=acme/other", headers=bearer).status_code == 404
    assert client.get(ask, headers=bearer).json == {"repo": "acme/mle-ada", "template_ref": OLD_REF}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        templates = queue.board_templates(url, token)
        dispatch = sweeping.dispatcher(env.bot(), f"{ORG}/assessment", templates=templates)
        dispatch(f"{ORG}/mle-ada", "a" * 40, False)
        dispatch(f"{ORG}/mle-bo", "b" * 40, True)
        with pytest.raises(BoardError, match="refused"):
            queue.board_templates(url, "not the token")(f"{ORG}/mle-ada")
    finally:
        server.shutdown()
        thread.join()
    with pytest.raises(BoardError, match="could not be asked"):
        queue.board_templates(url, token, timeout=2)(f"{ORG}/mle-ada")
    first, second = (d["inputs"] for d in github_server.dispatches)
    assert first == {"repo": f"{ORG}/mle-ada", "sha": "a" * 40, "template_ref": OLD_REF}
    assert second == {"repo": f"{ORG}/mle-bo", "sha": "b" * 40, "final": "true"}
