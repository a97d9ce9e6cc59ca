"""Benchmark: the sandbox's wall-time cost, full isolation against plain subprocesses.

Grades the reference with `--isolation full` (namespaces, private root, sandbox users,
cgroups) and with `--isolation reduced` (plain subprocesses with rlimits), alternating so both
see the same machine load, and prints each median and their ratio. Needs root.

Usage: .venv/bin/python bench/sandbox_cost.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def grade(sample: Path, out: Path, isolation: str) -> float:
    """Wall time of one `mle-assess grade` run, as its own process."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mle_assess", "grade", str(sample), "--out", str(out),
         "--isolation", isolation],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/sandbox_cost.py needs root: full isolation is only available to root")
    sys.path.insert(0, str(ROOT))
    from hidden_tests.solutions import build_sample
    from mle_assess.runtime import find

    work = Path(tempfile.mkdtemp(prefix="mle-assess-bench-"))
    sample = build_sample("reference", work / "reference", runtime_python=find().python)
    times: dict[str, list[float]] = {"reduced": [], "full": []}
    for i in range(args.runs):
        for isolation in ("reduced", "full") if i % 2 == 0 else ("full", "reduced"):
            times[isolation].append(grade(sample, work / f"{isolation}{i}", isolation))
        print(
            f"run {i + 1}: reduced {times['reduced'][-1]:.2f} s, full {times['full'][-1]:.2f} s",
            flush=True,
        )
    reduced, full = statistics.median(times["reduced"]), statistics.median(times["full"])
    print(
        f"median reduced {reduced:.2f} s | median full {full:.2f} s | "
        f"ratio full/reduced {full / reduced:.2f} ({args.runs} runs each, alternating)"
    )


if __name__ == "__main__":
    main()
