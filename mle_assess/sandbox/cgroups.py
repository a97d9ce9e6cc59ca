"""A memory and pids cgroup per sandboxed child, under the grader's own cgroup, where writable.

cgroup v1 (separate `memory` and `pids` hierarchies) and v2 (the unified hierarchy) are both
handled. When neither can be written, for example without root, or on a v2 machine whose
grader cgroup holds processes and so cannot delegate controllers, the child runs on rlimits
alone; `Cgroup.mechanism` says which applied, and the results record it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Cgroup:
    """The folders made for one child; `procs` are the files its first process joins."""

    mechanism: str  # "cgroup-v1", "cgroup-v2" or "none"
    folders: list[Path] = field(default_factory=list)
    reason: str = ""

    @property
    def procs(self) -> list[str]:
        return [str(folder / "cgroup.procs") for folder in self.folders]


def own_paths(text: str) -> dict[str, str]:
    """Controller -> this process's cgroup path, from /proc/self/cgroup ("" = unified)."""
    paths = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def create(name: str, *, memory_bytes: int, pids: int, root: Path = CGROUP_ROOT) -> Cgroup:
    """Make the child's cgroups, or return mechanism "none" with the reason."""
    try:
        own = own_paths(Path("/proc/self/cgroup").read_text())
    except OSError as exc:
        return Cgroup("none", reason=str(exc))
    if (root / "cgroup.controllers").is_file():
        return _create_v2(root, own.get("", "/"), name, memory_bytes, pids)
    return _create_v1(root, own, name, memory_bytes, pids)


def _create_v1(root: Path, own: dict[str, str], name: str, memory: int, pids: int) -> Cgroup:
    group = Cgroup("cgroup-v1")
    settings = {
        "memory": {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory},
        "pids": {"pids.max": pids},
    }
    try:
        for controller, values in settings.items():
            if controller not in own:
                raise OSError(f"no {controller} controller in this process's cgroups")
            folder = root / controller / own[controller].lstrip("/") / name
            folder.mkdir()
            group.folders.append(folder)
            for key, value in values.items():
                if (folder / key).exists():
                    (folder / key).write_text(f"{value}\n")
    except OSError as exc:
        destroy(group)
        return Cgroup("none", reason=f"cgroup v1: {exc}")
    return group


def _create_v2(root: Path, own: str, name: str, memory: int, pids: int) -> Cgroup:
    """Under the grader's own cgroup when it can delegate; otherwise under a top-level
    `mle-assess` cgroup. A v2 cgroup that holds processes cannot enable controllers for its
    children, which is the usual case for a CI job's cgroup."""
    reasons = []
    for parent in (root / own.lstrip("/"), root / "mle-assess"):
        group = Cgroup("cgroup-v2")
        try:
            parent.mkdir(exist_ok=True)
            for level in _between(root, parent):
                _enable(level, ("memory", "pids"))
            folder = parent / name
            folder.mkdir()
            group.folders.append(folder)
            (folder / "memory.max").write_text(f"{memory}\n")
            if (folder / "memory.swap.max").exists():
                (folder / "memory.swap.max").write_text("0\n")
            (folder / "pids.max").write_text(f"{pids}\n")
            return group
        except OSError as exc:
            destroy(group)
            reasons.append(f"{parent}: {exc}")
    return Cgroup("none", reason="cgroup v2: " + "; ".join(reasons))


def _between(root: Path, parent: Path) -> list[Path]:
    """The cgroups from the root down to `parent`, each of which must pass controllers on."""
    chain = [root]
    for part in parent.relative_to(root).parts:
        chain.append(chain[-1] / part)
    return chain


def _enable(folder: Path, controllers: tuple[str, ...]) -> None:
    enabled = (folder / "cgroup.subtree_control").read_text().split()
    missing = [c for c in controllers if c not in enabled]
    if missing:
        (folder / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))


def destroy(group: Cgroup) -> None:
    """Kill whatever is left in the child's cgroups, then remove them."""
    for folder in group.folders:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                pids = (folder / "cgroup.procs").read_text().split()
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.01)
        with contextlib.suppress(OSError):
            folder.rmdir()
    group.folders.clear()
