"""A grading runtime whose base interpreter lives outside /usr, as on a GitHub runner.

On a runner the runtime is built from setup-python's Python 3.11, which lives in the tool
cache (/opt/hostedtoolcache/...), not in /usr. A virtual environment keeps only a link to its
base interpreter (`home` in pyvenv.cfg); the standard library stays with the base. So the
sandbox must show that base too, read-only and nosuid, or candidate code cannot even start.

Here a Python 3.11 is relocated into a folder under /opt: the interpreter and its standard
library copied (without the test suites, dist-packages and the like), checked to run from its
new prefix alone, then a runtime is built from it with `runtime.install(python=...)` (pip
installs the pinned requirements as usual). The reference submission must score 600 on it in
full isolation, and candidate code must not be able to change the base.

Also, without building anything: which folders the sandbox shows for a runtime, that a prefix
too wide to show is refused, and that `runtime install` refuses any Python but 3.11.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mle_assess import runtime as rt
from mle_assess.cli import main as cli
from mle_assess.errors import RuntimeMissing, SandboxError
from mle_assess.grade import main as grade_main
from mle_assess.sandbox import FULL, ChildSpec, run_child
from mle_assess.sandbox.init import SYSTEM_DIRS
from mle_assess.sandbox.runner import visible_runtime
from scoring import load_config

LIMITS = load_config().limits
# Left out of the relocated standard library: test suites, GUI modules, the build
# configuration, caches and any installed packages. None of them is needed to grade.
LEFT_OUT = {
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "__pycache__",
    "dist-packages",
    "site-packages",
    "EXTERNALLY-MANAGED",
}
ABOUT = (
    "import json, os, sys; print(json.dumps({'prefix': sys.prefix, 'base_prefix': "
    "sys.base_prefix, 'path': sys.path, 'os': os.__file__, 'version': sys.version_info[:2]}))"
)


# --- which folders the sandbox shows (no runtime built) ---------------------------------------


def fake_runtime(folder: Path, home: str) -> Path:
    """A runtime folder whose pyvenv.cfg names `home` as its base; returns its python."""
    (folder / "bin").mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = false\n")
    return folder / "bin" / "python3"


@pytest.mark.parametrize("home", ["/usr/bin", "/usr/local/bin", "/bin"])
def test_a_base_in_the_system_folders_adds_nothing(tmp_path: Path, home: str) -> None:
    python = fake_runtime(tmp_path / "runtime", home)
    assert visible_runtime(python) == [str(tmp_path / "runtime")]


def test_a_base_in_the_tool_cache_is_shown_with_its_whole_prefix(tmp_path: Path) -> None:
    home = "/opt/hostedtoolcache/Python/3.11.13/x64/bin"
    python = fake_runtime(tmp_path / "runtime", home)
    assert visible_runtime(python) == [
        "/opt/hostedtoolcache/Python/3.11.13/x64",
        str(tmp_path / "runtime"),
    ]


def test_a_runtime_inside_its_base_is_shown_once(tmp_path: Path) -> None:
    base = tmp_path / "python3.11"
    python = fake_runtime(base / "runtime", str(base / "bin"))
    assert visible_runtime(python) == [str(base)]


def test_a_base_behind_a_link_is_shown_where_the_link_leads(tmp_path: Path) -> None:
    real = tmp_path / "real" / "python3.11"
    (real / "bin").mkdir(parents=True)
    (tmp_path / "linked").symlink_to(real)
    python = fake_runtime(tmp_path / "runtime", str(tmp_path / "linked" / "bin"))
    assert visible_runtime(python) == [
        str(tmp_path / "linked"),
        str(tmp_path / "runtime"),
        str(real),
    ]


@pytest.mark.parametrize("home", ["/opt/bin", "/python", "/home/bin"])
def test_a_prefix_too_wide_to_show_is_refused(tmp_path: Path, home: str) -> None:
    """The whole prefix becomes visible to candidate code: never "/" nor a top folder."""
    python = fake_runtime(tmp_path / "runtime", home)
    with pytest.raises(SandboxError, match="too wide"):
        visible_runtime(python)


def test_a_runtime_without_pyvenv_cfg_is_shown_alone(tmp_path: Path) -> None:
    (tmp_path / "runtime" / "bin").mkdir(parents=True)
    assert visible_runtime(tmp_path / "runtime" / "bin" / "python3") == [str(tmp_path / "runtime")]


# --- only Python 3.11 ---------------------------------------------------------------------------


def another_python() -> str:
    """A real interpreter of another version than 3.11 on this machine, else skip."""
    candidates = [shutil.which(f"python3.{minor}") for minor in (12, 13, 10, 9)]
    candidates += sorted(str(p) for p in Path("/usr/bin").glob("python3.[0-9]*"))
    candidates += sorted(str(p) for p in Path("/root/.pyenv/versions").glob("3.*/bin/python3"))
    for candidate in filter(None, candidates):
        try:
            proc = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[1])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if proc.returncode == 0 and proc.stdout.strip() not in ("", "11"):
            return candidate
    pytest.skip("no Python other than 3.11 on this machine")


def test_install_refuses_another_version_before_building(tmp_path: Path) -> None:
    other = another_python()
    with pytest.raises(RuntimeMissing, match=r"must be Python 3\.11"):
        rt.install(tmp_path / "runtime", python=other, echo=lambda _: None)
    assert not (tmp_path / "runtime").exists()


def test_cli_takes_the_interpreter_from_the_option_or_the_environment(tmp_path: Path) -> None:
    other = another_python()
    runner = CliRunner()
    for args, env in (
        (["--python", other], {}),
        ([], {"MLE_ASSESS_RUNTIME_PYTHON": other}),
    ):
        target = tmp_path / "runtime"
        result = runner.invoke(cli, ["runtime", "install", "--path", str(target), *args], env=env)
        assert result.exit_code == 1, result.output
        assert "must be Python 3.11" in result.output and other in result.output
        assert not target.exists()
    result = runner.invoke(
        cli, ["runtime", "install", "--path", str(tmp_path / "r"), "--python", "/nonexistent"]
    )
    assert result.exit_code == 1 and "no program there" in result.output


def test_install_keeps_a_runtime_built_from_the_same_python(runtime: rt.Runtime) -> None:
    """The installed runtime is current, and asking for its own base changes nothing."""
    base = rt._venv_config(runtime.root / "pyvenv.cfg")["executable"]
    marker = runtime.root / rt.MARKER
    before = marker.stat().st_mtime_ns
    lines: list[str] = []
    assert rt.install(runtime.root, python=base, echo=lines.append) == runtime
    assert lines == [] and marker.stat().st_mtime_ns == before


# --- a base interpreter under /opt --------------------------------------------------------------


def about_base(runtime: rt.Runtime) -> tuple[Path, Path, Path]:
    """The installed runtime's base Python 3.11: its program, standard library and prefix."""
    base = rt._venv_config(runtime.root / "pyvenv.cfg")["executable"]
    about = subprocess.run(
        [
            base,
            "-I",
            "-c",
            "import json, sys, sysconfig; print(json.dumps([sys.executable, "
            "sysconfig.get_paths()['stdlib'], sys.base_prefix]))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    executable, stdlib, prefix = json.loads(about.stdout)
    return Path(os.path.realpath(executable)), Path(stdlib), Path(prefix)


def loads_libpython(executable: Path) -> bool:
    """Whether the program loads libpython (a shared build, found through its library path)."""
    proc = subprocess.run(["ldd", str(executable)], capture_output=True, text=True, check=True)
    return "libpython" in proc.stdout


@pytest.fixture(scope="module")
def relocated(runtime: rt.Runtime) -> Iterator[tuple[Path, rt.Runtime]]:
    """A Python 3.11 whose prefix is under /opt, and a grading runtime built from it.

    Debian's /usr/bin/python3.11 holds its libpython, so it is copied with its standard library
    into a folder under /opt. setup-python's build loads libpython through a fixed library path
    and cannot be moved; but it already lives under /opt (the case under test), so on a runner
    the runtime is built from it where it is."""
    if os.geteuid() != 0:
        pytest.skip("a base interpreter under /opt needs root")
    executable, stdlib, prefix = about_base(runtime)
    folder = Path(tempfile.mkdtemp(prefix="mle-assess-base-", dir="/opt"))
    try:
        folder.chmod(0o755)
        if not loads_libpython(executable):
            base = folder / "python3.11"
            (base / "bin").mkdir(parents=True)
            shutil.copy2(executable, base / "bin" / "python3.11")
            (base / "bin" / "python3").symlink_to("python3.11")
            shutil.copytree(
                stdlib,
                base / "lib" / "python3.11",
                ignore=lambda _, names: [
                    n for n in names if n in LEFT_OUT or n.startswith("config-")
                ],
            )
            python = base / "bin" / "python3"
        elif prefix.parts[1] not in SYSTEM_DIRS:
            base, python = prefix, executable
        else:
            pytest.skip(f"{executable} loads libpython from {prefix}; it cannot be moved")
        built = rt.install(folder / "runtime", python=str(python), echo=print)
        yield base, built
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_the_relocated_python_runs_from_its_own_prefix(relocated) -> None:
    base, _ = relocated
    proc = subprocess.run(
        [str(base / "bin" / "python3"), "-I", "-c", ABOUT], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["prefix"] == seen["base_prefix"] == str(base)
    assert seen["os"] == str(base / "lib" / "python3.11" / "os.py")
    assert seen["version"] == [3, 11]
    # Nothing from the system's own Python: the library comes from the new prefix alone.
    assert all(entry.startswith(str(base)) for entry in seen["path"]), seen["path"]


@pytest.mark.slow
def test_the_runtime_points_at_the_base_under_opt(relocated) -> None:
    base, built = relocated
    config = rt._venv_config(built.root / "pyvenv.cfg")
    assert config["home"] == str(base / "bin")
    assert config["version"].startswith("3.11.")
    assert os.path.realpath(built.python) == str(base / "bin" / "python3.11")
    assert sorted(visible_runtime(built.python)) == sorted([str(base), str(built.root)])


@pytest.mark.slow
def test_the_reference_scores_600_on_the_base_under_opt(
    relocated, samples: dict[str, Path], tmp_path: Path, full_isolation: str
) -> None:
    _, built = relocated
    out = tmp_path / "out"
    results = grade_main(submission=samples["reference"], out=out, runtime=built, isolation=FULL)
    extra = results.data["extra_data"]
    assert results.scaled_score == 600, results.report
    assert extra["isolation"] == "full"
    assert all(t["status"] == "passed" for t in results.data["tests"])
    assert json.loads((out / "results.json").read_text())["extra_data"]["scaled_score"] == 600


PROBE_BASE = r"""
import errno, json, os, sys
base = os.environ["BASE"]
seen = {"base_prefix": sys.base_prefix, "executable": os.path.realpath(sys.executable)}

def attempt(name, action):
    try:
        action()
        seen[name] = "done"
    except OSError as exc:
        seen[name] = errno.errorcode.get(exc.errno, str(exc.errno))

attempt("append_stdlib", lambda: open(os.path.join(base, "lib/python3.11/os.py"), "a").close())
attempt("write_planted", lambda: open(os.path.join(base, "planted.txt"), "w").close())
attempt("create_in_bin", lambda: open(os.path.join(base, "bin/evil"), "w").close())
attempt("remove_program", lambda: os.unlink(os.path.join(base, "bin/python3.11")))
mounts = {}
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    mounts[fields[4]] = fields[5].split(",")
seen["base_mount"] = mounts.get(base)
seen["runtime_mount"] = mounts.get(os.environ["RUNTIME"])
print(json.dumps(seen))
"""


@pytest.mark.slow
def test_candidate_code_cannot_change_the_base(
    relocated, tmp_path: Path, full_isolation: str
) -> None:
    base, built = relocated
    # A file anyone could write on the host: only the read-only mount keeps it unchanged.
    planted = base / "planted.txt"
    planted.write_text("untouched\n")
    planted.chmod(0o666)
    try:
        code = tmp_path / "code"
        code.mkdir()
        (code / "child.py").write_text(PROBE_BASE)
        result = run_child(
            ChildSpec(
                argv=[str(built.python), "-I", "{code}/child.py"],
                views={"code": code},
                cwd="{code}",
                scratch=tmp_path / "scratch",
                limits=LIMITS,
                timeout=20.0,
                isolation=FULL,
                env={"BASE": str(base), "RUNTIME": str(built.root)},
            )
        )
        assert result.messages, result.log
        seen = result.messages[0]
        assert seen["base_prefix"] == str(base)
        assert seen["executable"] == str(base / "bin" / "python3.11")
        for name in ("append_stdlib", "write_planted", "create_in_bin", "remove_program"):
            assert seen[name] in ("EROFS", "EACCES"), (name, seen)
        assert seen["write_planted"] == "EROFS"
        for mount in ("base_mount", "runtime_mount"):
            assert seen[mount] and {"ro", "nosuid", "nodev"} <= set(seen[mount]), (mount, seen)
        assert planted.read_text() == "untouched\n"
        assert (base / "bin" / "python3.11").is_file()
        assert not (base / "bin" / "evil").exists()
    finally:
        planted.unlink()
