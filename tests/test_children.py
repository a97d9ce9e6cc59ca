"""Candidate code never runs in the grader's process: the children are standalone scripts on a
runtime that holds neither this project nor the hidden tests."""

import ast
import os
import subprocess
import sys

import pytest

from mle_assess.children import CHILDREN_DIR, MODULE3_CHILD, MODULE4_CHILD

PROJECT_PACKAGES = {"mle_assess", "scoring", "hidden_tests", "tests"}
ALLOWED_THIRD_PARTY = {"pandas", "numpy", "pipeline", "custom_transformers"}


@pytest.mark.parametrize("script", [MODULE3_CHILD, MODULE4_CHILD])
def test_children_import_only_the_standard_library_and_the_runtime(script):
    tree = ast.parse(script.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    assert not names & PROJECT_PACKAGES
    assert names <= set(sys.stdlib_module_names) | ALLOWED_THIRD_PARTY, names


def test_the_runtime_holds_neither_the_project_nor_the_hidden_tests(runtime, tmp_path):
    for module in ("mle_assess", "scoring", "hidden_tests"):
        proc = subprocess.run(
            [str(runtime.python), "-I", "-c", f"import {module}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, module


def test_the_runtime_is_not_writable_by_others(runtime):
    for dirpath, dirnames, filenames in os.walk(runtime.root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                assert not os.stat(path).st_mode & 0o022, path


def test_the_runtime_is_outside_the_repository_and_home(runtime):
    assert not str(runtime.root).startswith(str(CHILDREN_DIR.parents[1]))
    if os.geteuid() == 0:
        assert str(runtime.root).startswith("/opt/")
