"""Copy a submission into a fresh work folder: regular files only, protected paths restored.

Symbolic links, devices, sockets, pipes and oversized files are refused with a
`rejected_file` flag. A protected path that differs from the template's copy gets a
`protected_file_changed` flag, and the template's copy is used. No message quotes file content.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

PROTECTED = (
    "README.md",
    "QUIZ.md",
    "data/",
    "model/",
    "requirements.txt",
    "tests/",
    "check.py",
    ".github/workflows/check.yml",
)
SKIPPED_DIRS = {".git"}
MAX_FILES = 2000
MAX_DEPTH = 32
MAX_PATH_CHARS = 512
MAX_REJECTED_FLAGS = 20


@dataclass(frozen=True)
class Flag:
    """A flag on a result: `kind` is a fixed word, `detail` a sentence for people."""

    kind: str
    detail: str


def safe_path(relative: str) -> str:
    """A path as it may appear in a message: printable, no markup, bounded length."""
    cleaned = "".join(c if c.isprintable() and c not in "`<>|*[]\\:@#" else "?" for c in relative)
    return cleaned if len(cleaned) <= 120 else cleaned[:117] + "..."


def is_protected(relative: str) -> bool:
    return any(relative == p or (p.endswith("/") and relative.startswith(p)) for p in PROTECTED)


def copy_submission(source: Path, dest: Path, *, template: Path, max_file_bytes: int) -> list[Flag]:
    """Copy `source` into the new folder `dest`; return the flags raised while copying."""
    dest.mkdir(parents=True)
    flags: list[Flag] = []
    count = rejected = 0
    for relative, entry in _walk(source):
        info = entry.stat(follow_symlinks=False)
        problem = _refusal(info, max_file_bytes)
        if problem is None and len(relative) > MAX_PATH_CHARS:
            problem = f"its path is longer than {MAX_PATH_CHARS} characters"
        if problem is None and count >= MAX_FILES:
            problem = f"the submission holds more than {MAX_FILES} files"
        if problem is None:
            problem = _copy(entry.path, dest / relative)
        if problem:
            rejected += 1
            if rejected <= MAX_REJECTED_FLAGS:
                flags.append(Flag("rejected_file", f"`{safe_path(relative)}`: {problem}"))
            continue
        count += 1
    if rejected > MAX_REJECTED_FLAGS:
        more = rejected - MAX_REJECTED_FLAGS
        flags.append(Flag("rejected_file", f"and {more} more files were refused"))
    return flags + restore_protected(dest, template)


def _copy(source: str, target: Path) -> str | None:
    """Copy one regular file; a file the system cannot place (a name too long for it, a folder
    in the way) is refused rather than ending the grading."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target, follow_symlinks=False)
    except OSError:
        return "it could not be copied"
    return None


def _refusal(info: os.stat_result, max_file_bytes: int) -> str | None:
    if stat.S_ISLNK(info.st_mode):
        return "symbolic links are not accepted"
    if not stat.S_ISREG(info.st_mode):
        return "only regular files are accepted"
    if info.st_size > max_file_bytes:
        return f"larger than {max_file_bytes // 1024} KB"
    return None


def _walk(root: Path, prefix: str = "", depth: int = 0):
    """Yield (relative path, DirEntry) for every non-directory, never following links.

    Folders nested deeper than MAX_DEPTH are not entered; the folder itself is yielded so that
    it is refused like any other file that is not a regular file.
    """
    with os.scandir(root) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name in SKIPPED_DIRS and not prefix:
                    continue
                if depth >= MAX_DEPTH:
                    yield relative, entry
                else:
                    yield from _walk(Path(entry.path), relative + "/", depth + 1)
            else:
                yield relative, entry


def _clear_way(work: Path, target: Path) -> None:
    """Remove whatever stands where the template's file must go: a folder in its place, or a
    file where one of its parent folders belongs."""
    for parent in reversed(target.relative_to(work).parents[:-1]):
        if (work / parent).exists() and not (work / parent).is_dir():
            (work / parent).unlink()
    if target.is_dir():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)


def restore_protected(work: Path, template: Path) -> list[Flag]:
    """Put the template's copy of every protected path in place; flag each that differed."""
    flags = []
    for relative, entry in _walk(template):
        if not is_protected(relative):
            continue
        ours = work / relative
        if ours.is_file() and filecmp.cmp(entry.path, ours, shallow=False):
            continue
        what = "changed" if ours.exists() or ours.is_symlink() else "missing"
        flags.append(
            Flag("protected_file_changed", f"{relative} was {what}; the template's copy was used")
        )
        _clear_way(work, ours)
        shutil.copyfile(entry.path, ours)
    return flags
