"""Bare git repositories on disk, driven through git's plumbing commands.

Every command runs with an empty global and system configuration, so the host's git settings
never leak into the server's repositories."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ZERO = "0" * 40
WORKFLOWS_DIR = ".github/workflows/"
# Set by the git HTTP CGI when the pusher is a GitHub App token without `workflows: write`.
NO_WORKFLOWS_ENV = "FAKEGITHUB_NO_WORKFLOWS"

# Refuses the whole push (pre-receive runs once for every ref, so nothing lands) when any new
# commit adds, changes or deletes a file under .github/workflows/ and the CGI said the pusher
# lacks the permission; the message is GitHub's (github.blog changelog 2020-04-06 "GitHub
# Apps: Workflow permission"; peter-evans/create-pull-request#1713).
PRE_RECEIVE = (
    "#!/bin/sh\n"
    f'[ "${{{NO_WORKFLOWS_ENV}:-}}" = 1 ] || exit 0\n'
    "while read old new ref; do\n"
    f'  [ "$new" = "{ZERO}" ] && continue\n'
    '  for commit in $(git rev-list "$new" --not --all); do\n'
    '    file=$(git diff-tree -r --root --no-commit-id --name-only "$commit" '
    f"-- {WORKFLOWS_DIR} | head -n 1)\n"
    '    if [ -n "$file" ]; then\n'
    '      echo "refusing to allow a GitHub App to create or update workflow \\`$file\\`'
    ' without \\`workflows\\` permission" >&2\n'
    "      exit 1\n"
    "    fi\n"
    "  done\n"
    "done\n"
    "exit 0\n"
)


class GitError(RuntimeError):
    pass


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author: Person
    author_date: int
    committer: Person
    committer_date: int
    message: str


@dataclass(frozen=True)
class Entry:
    """One entry of a tree: `type` is blob or tree."""

    mode: str
    type: str
    sha: str
    size: int
    name: str


def git_env(home: Path) -> dict[str, str]:
    """The environment every git process of the server runs with."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
    }


class Git:
    """Plumbing over bare repositories, with the server's private HOME."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.env = git_env(home)

    def run(
        self,
        repo: Path | None,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> bytes:
        cmd = ["git"] + (["--git-dir", str(repo)] if repo else []) + list(args)
        proc = subprocess.run(
            cmd, input=input, env={**self.env, **(env or {})}, capture_output=True, check=False
        )
        if check and proc.returncode != 0:
            raise GitError(f"{' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout if proc.returncode == 0 else b""

    def init_bare(self, path: Path, default_branch: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.run(None, "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path))
        self.configure(path, default_branch)

    def configure(self, path: Path, default_branch: str) -> None:
        self.run(path, "config", "http.receivepack", "true")
        self.run(path, "config", "uploadpack.allowAnySHA1InWant", "true")
        self.run(path, "symbolic-ref", "HEAD", f"refs/heads/{default_branch}")
        hook = path / "hooks" / "pre-receive"
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(PRE_RECEIVE)
        hook.chmod(0o755)

    def refs(self, path: Path) -> dict[str, str]:
        out = self.run(path, "for-each-ref", "--format=%(refname) %(objectname)")
        pairs = (line.split(" ", 1) for line in out.decode().splitlines() if line)
        return {name: sha for name, sha in pairs}

    def resolve(self, path: Path, ref: str) -> str | None:
        """The commit a branch, tag or (abbreviated) sha names, or None."""
        if not ref or ref.startswith("-"):
            return None
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            out = self.run(
                path, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False
            )
            if out.strip():
                return out.decode().strip()
        return None

    def commit_info(self, path: Path, sha: str) -> CommitInfo:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B"
        fields = self.run(path, "show", "-s", f"--format={fmt}", sha).decode().split("\0", 9)
        return CommitInfo(
            sha=fields[0],
            tree=fields[1],
            parents=fields[2].split(),
            author=Person(fields[3], fields[4]),
            author_date=int(fields[5]),
            committer=Person(fields[6], fields[7]),
            committer_date=int(fields[8]),
            message=fields[9].rstrip("\n"),
        )

    def object_type(self, path: Path, spec: str) -> str | None:
        out = self.run(path, "cat-file", "-t", spec, check=False)
        return out.decode().strip() or None

    def blob(self, path: Path, sha: str) -> bytes:
        return self.run(path, "cat-file", "blob", sha)

    def rev_of(self, path: Path, spec: str) -> str:
        return self.run(path, "rev-parse", spec).decode().strip()

    def tree_entries(self, path: Path, treeish: str, recursive: bool = False) -> list[Entry]:
        """The tree's entries; with `recursive`, every entry below it too (paths in `name`)."""
        out = self.run(path, "ls-tree", "-l", "-z", *(["-r", "-t"] if recursive else []), treeish)
        entries = []
        for record in out.decode().split("\0"):
            if not record:
                continue
            meta, name = record.split("\t", 1)
            mode, kind, sha, size = meta.split()
            entries.append(Entry(mode, kind, sha, 0 if size == "-" else int(size), name))
        return entries

    def commit_files(
        self,
        path: Path,
        *,
        parent: str | None,
        files: dict[str, bytes],
        message: str,
        person: Person,
        when: float,
    ) -> str:
        """A new commit: `parent`'s tree with `files` written (git hash-object, a temporary
        index, write-tree, commit-tree). The caller moves the branch."""
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent:
                self.run(path, "read-tree", parent, env=env)
            for file_path, content in files.items():
                blob = self.run(path, "hash-object", "-w", "--stdin", input=content)
                info = f"100644,{blob.decode().strip()},{file_path}"
                self.run(path, "update-index", "--add", "--cacheinfo", info, env=env)
            tree = self.run(path, "write-tree", env=env).decode().strip()
        return self.commit_tree(path, tree, [parent] if parent else [], message, person, when)

    def commit_tree(
        self, path: Path, tree: str, parents: list[str], message: str, person: Person, when: float
    ) -> str:
        date = f"@{int(when)} +0000"
        env = {
            "GIT_AUTHOR_NAME": person.name,
            "GIT_AUTHOR_EMAIL": person.email,
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": person.name,
            "GIT_COMMITTER_EMAIL": person.email,
            "GIT_COMMITTER_DATE": date,
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.run(path, *args, input=message.encode(), env=env).decode().strip()

    def update_ref(self, path: Path, ref: str, new: str, old: str | None) -> bool:
        """Compare-and-swap a ref; False when it moved meanwhile."""
        args = ["update-ref", ref, new] + ([old] if old else [ZERO])
        try:
            self.run(path, *args)
        except GitError:
            return False
        return True

    def count_between(self, path: Path, base: str, head: str) -> int:
        return int(self.run(path, "rev-list", "--count", f"{base}..{head}").decode().strip())

    def rev_list(self, path: Path, head: str, exclude: list[str], limit: int) -> list[str]:
        """Commits reachable from head and from none of `exclude`, oldest first."""
        args = ["rev-list", "--reverse", f"--max-count={limit}", head]
        args += [f"^{sha}" for sha in exclude if sha and sha != ZERO]
        return self.run(path, *args).decode().split()

    def count_new(self, path: Path, head: str, exclude: list[str]) -> int:
        args = ["rev-list", "--count", head] + [f"^{sha}" for sha in exclude if sha != ZERO]
        return int(self.run(path, *args).decode().strip())

    def changed_files(self, path: Path, sha: str) -> dict[str, list[str]]:
        out = self.run(path, "diff-tree", "-r", "--root", "--no-commit-id", "--name-status", sha)
        changes: dict[str, list[str]] = {"added": [], "removed": [], "modified": []}
        keys = {"A": "added", "D": "removed"}
        for line in out.decode().splitlines():
            status, _, name = line.partition("\t")
            changes[keys.get(status[:1], "modified")].append(name)
        return changes

    def is_ancestor(self, path: Path, ancestor: str, descendant: str) -> bool:
        cmd = ["merge-base", "--is-ancestor", ancestor, descendant]
        proc = subprocess.run(
            ["git", "--git-dir", str(path), *cmd], env=self.env, capture_output=True, check=False
        )
        return proc.returncode == 0

    def clone_template(self, src: Path, dst: Path, branch: str | None) -> None:
        """A bare copy of `src`: only `branch` when given, else every branch."""
        args = ["clone", "--quiet", "--bare", "--no-hardlinks"]
        if branch:
            args += ["--single-branch", "--branch", branch]
        self.run(None, *args, str(src), str(dst))
        self.run(dst, "remote", "remove", "origin", check=False)
        for ref in self.refs(dst):
            if not ref.startswith("refs/heads/"):
                self.run(dst, "update-ref", "-d", ref)

    def squash_branches(self, path: Path, person: Person, when: float) -> None:
        """Replace each branch with one root commit of the same tree ("Initial commit")."""
        for ref, sha in self.refs(path).items():
            tree = self.rev_of(path, f"{sha}^{{tree}}")
            commit = self.commit_tree(path, tree, [], "Initial commit", person, when)
            self.update_ref(path, ref, commit, sha)
