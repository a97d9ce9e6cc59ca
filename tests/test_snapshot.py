"""The submission is copied first: regular files only; protected paths restored and flagged."""

import os
from pathlib import Path

import pytest

from mle_assess import TEMPLATE_DIR
from mle_assess.grade.snapshot import PROTECTED, copy_submission, safe_path

LIMIT = 1024 * 1024


def _copy(src: Path, tmp_path: Path):
    dest = tmp_path / "work"
    return dest, copy_submission(src, dest, template=TEMPLATE_DIR, max_file_bytes=LIMIT)


def test_the_unmodified_template_copies_without_flags(template_copy, tmp_path):
    dest, flags = _copy(template_copy, tmp_path)
    assert flags == []
    assert (dest / "app.py").read_bytes() == (TEMPLATE_DIR / "app.py").read_bytes()


@pytest.mark.parametrize(
    "target", ["../../hidden_tests", "/etc/passwd", "/proc/self/environ", ".git/config"]
)
def test_symlinks_are_refused_and_never_followed(template_copy, tmp_path, target):
    os.symlink(target, template_copy / "helper.py")
    dest, flags = _copy(template_copy, tmp_path)
    assert [(f.kind, f.detail) for f in flags] == [
        ("rejected_file", "`helper.py`: symbolic links are not accepted")
    ]
    assert not (dest / "helper.py").exists() and not (dest / "helper.py").is_symlink()


def test_a_symlinked_folder_is_refused(template_copy, tmp_path):
    os.symlink(str(TEMPLATE_DIR.parent / "hidden_tests"), template_copy / "keys")
    dest, flags = _copy(template_copy, tmp_path)
    assert [f.kind for f in flags] == ["rejected_file"]
    assert not (dest / "keys").exists()


def test_special_files_and_oversized_files_are_refused(template_copy, tmp_path):
    os.mkfifo(template_copy / "pipe")
    (template_copy / "big.bin").write_bytes(b"0" * (LIMIT + 1))
    dest, flags = _copy(template_copy, tmp_path)
    details = sorted(f.detail for f in flags)
    assert details == ["`big.bin`: larger than 1024 KB", "`pipe`: only regular files are accepted"]
    assert not (dest / "pipe").exists() and not (dest / "big.bin").exists()


def test_git_folder_is_not_copied(template_copy, tmp_path):
    (template_copy / ".git").mkdir()
    (template_copy / ".git" / "config").write_text("[credential]\n")
    dest, flags = _copy(template_copy, tmp_path)
    assert flags == [] and not (dest / ".git").exists()


def test_changed_and_missing_protected_files_are_flagged_and_restored(template_copy, tmp_path):
    (template_copy / "model" / "train.csv").write_text("a,b\n1,2\n")
    os.remove(template_copy / "check.py")
    dest, flags = _copy(template_copy, tmp_path)
    assert sorted(f.detail for f in flags) == [
        "check.py was missing; the template's copy was used",
        "model/train.csv was changed; the template's copy was used",
    ]
    assert {f.kind for f in flags} == {"protected_file_changed"}
    for name in ("model/train.csv", "check.py"):
        assert (dest / name).read_bytes() == (TEMPLATE_DIR / name).read_bytes()


def test_added_files_are_the_candidates_own_business(template_copy, tmp_path):
    (template_copy / "helpers.py").write_text("X = 1\n")
    (template_copy / "tests" / "test_mine.py").write_text("def test_x():\n    pass\n")
    dest, flags = _copy(template_copy, tmp_path)
    assert flags == []
    assert (dest / "helpers.py").is_file() and (dest / "tests" / "test_mine.py").is_file()


def test_every_protected_path_exists_in_the_template():
    for path in PROTECTED:
        assert (TEMPLATE_DIR / path.rstrip("/")).exists(), path


def test_paths_in_messages_cannot_carry_markup_or_workflow_commands():
    assert "::" not in safe_path("::warning::x.py")
    assert "\n" not in safe_path("a\nb.py")
    assert len(safe_path("x" * 500)) == 120


def test_a_folder_where_a_protected_file_belongs_is_replaced(template_copy, tmp_path):
    (template_copy / "README.md").unlink()
    (template_copy / "README.md").mkdir()
    (template_copy / "README.md" / "x.txt").write_text("x")
    import shutil

    shutil.rmtree(template_copy / "data")
    (template_copy / "data").write_text("not a folder")
    dest, flags = _copy(template_copy, tmp_path)
    assert {f.kind for f in flags} == {"protected_file_changed"}
    assert (dest / "README.md").read_bytes() == (TEMPLATE_DIR / "README.md").read_bytes()
    assert (dest / "data" / "level1").is_dir()


def test_deep_nesting_is_refused_not_a_crash(template_copy, tmp_path):
    deep = template_copy
    for _ in range(60):
        deep = deep / "a"
    deep.mkdir(parents=True)
    (deep / "f.txt").write_text("x")
    dest, flags = _copy(template_copy, tmp_path)
    assert [f.kind for f in flags] == ["rejected_file"]
    assert "only regular files" in flags[0].detail


def test_refusal_flags_are_capped(template_copy, tmp_path):
    junk = template_copy / "junk"
    junk.mkdir()
    for i in range(50):
        os.symlink("/etc/passwd", junk / f"link{i:02d}")
    _, flags = _copy(template_copy, tmp_path)
    assert len(flags) == 21
    assert flags[-1].detail == "and 30 more files were refused"


def test_a_path_too_long_for_the_copy_is_refused_not_fatal(tmp_path):
    """A name that fits under the source folder can overflow the grader's longer work path."""
    source = tmp_path / "s"
    deep = source
    for _ in range(3):
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    (deep / "f.py").write_text("x = 1\n")
    flags = copy_submission(source, tmp_path / "w", template=TEMPLATE_DIR, max_file_bytes=1024)
    rejected = [f.detail for f in flags if f.kind == "rejected_file"]
    assert rejected == [f"`{safe_path('/'.join(['d' * 200] * 3) + '/f.py')}`: its path is "
                        "longer than 512 characters"]  # fmt: skip
