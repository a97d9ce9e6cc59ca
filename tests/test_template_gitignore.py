"""The template's `.gitignore`: a candidate who runs `git add -A` commits the template's files
and their own work, never a virtual environment, a cache or an editor's files; and never loses
a file of the template itself, nor the pickles they must commit."""

from __future__ import annotations

import shutil
from pathlib import Path

from fakegithub.gitclient import git
from github_env import ORG, make_env

from mle_assess import TEMPLATE_DIR
from mle_assess.github.provision import publish_template

PLANTED_IGNORED = [
    ".venv/lib/python3.11/site-packages/pandas/__init__.py",
    ".venv/bin/python",
    "venv/pyvenv.cfg",
    "__pycache__/pipeline.cpython-311.pyc",
    "tests/__pycache__/test_app.cpython-311.pyc",
    ".pytest_cache/v/cache/lastfailed",
    ".ipynb_checkpoints/scratch-checkpoint.ipynb",
    ".idea/workspace.xml",
    ".vscode/settings.json",
    "pipeline.py.swp",
    "app.py~",
    ".DS_Store",
]
PLANTED_KEPT = [
    "preprocessors/level1/preprocessor.pkl",
    "preprocessors/level2/preprocessor.pkl",
    "helpers.py",
    "notes/plan.md",
]


def template_files() -> set[str]:
    return {
        str(p.relative_to(TEMPLATE_DIR))
        for p in TEMPLATE_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def test_git_add_all_takes_the_template_and_the_work_but_no_environment(tmp_path: Path):
    work = Path(shutil.copytree(TEMPLATE_DIR, tmp_path / "repo", ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc")))  # fmt: skip
    for relative in PLANTED_IGNORED + PLANTED_KEPT:
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / relative).write_bytes(b"x")
    git("init", "--quiet", str(work))
    git("add", "-A", cwd=work)
    staged = set(git("ls-files", cwd=work).stdout.split())
    assert staged == template_files() | set(PLANTED_KEPT)
    assert "model/model.pkl" in staged and ".gitignore" in staged


def test_the_ignore_rules_match_no_file_of_the_template(tmp_path: Path):
    work = Path(shutil.copytree(TEMPLATE_DIR, tmp_path / "repo"))
    git("init", "--quiet", str(work))
    files = sorted(template_files())
    ignored = git("check-ignore", "--no-index", *files, cwd=work, check=False)
    assert ignored.stdout.split() == []  # exit 1: nothing ignored


def test_the_published_template_holds_every_file(github_server, tmp_path: Path):
    """publish-template adds everything: the published tree is the template, .gitignore and
    model/model.pkl included."""
    env = make_env(github_server)
    publish_template(env.bot(), f"{ORG}/mle-template", echo=lambda _: None)
    clone = tmp_path / "published"
    git(
        "clone",
        "--quiet",
        github_server.clone_url(ORG, "mle-template", env.admin_token),
        str(clone),
    )
    published = set(git("ls-files", cwd=clone).stdout.split())
    assert published == template_files()
