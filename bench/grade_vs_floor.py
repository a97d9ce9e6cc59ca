"""Benchmark: `mle-assess grade` of the reference against the grading floor, side by side.

The floor (`shared/bench/floor.py`) is the candidate's own work done once with no grader. Runs
alternate (floor, grade, floor, grade, ...) so both see the same machine load; the script prints
each median, their ratio, and the grader process's peak memory.

Usage: .venv/bin/python bench/grade_vs_floor.py [--runs 5] [--floor PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADE_IN_PROCESS = (
    "import resource, sys\n"
    "from mle_assess.cli import main\n"
    "try:\n    main(sys.argv[1:], standalone_mode=False)\n"
    "finally:\n"
    "    print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def timed(argv: list[str]) -> tuple[float, str]:
    """Wall time of one command, and its output."""
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, proc.stdout


def main() -> None:
    """Build the reference sample, then alternate floor and grade runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--floor", type=Path, default=ROOT.parent / "shared/bench/floor.py")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from hidden_tests.solutions import build_sample
    from mle_assess.runtime import find

    work = Path(tempfile.mkdtemp(prefix="mle-assess-bench-"))
    sample = build_sample("reference", work / "reference", runtime_python=find().python)
    floors, grades, peaks = [], [], []
    for i in range(args.runs):
        floors.append(timed([sys.executable, str(args.floor)])[0])
        seconds, out = timed(
            [
                sys.executable,
                "-c",
                GRADE_IN_PROCESS,
                "grade",
                str(sample),
                "--out",
                str(work / f"out{i}"),
            ]
        )
        grades.append(seconds)
        peaks.append(int(out.rsplit("peak_rss_kb", 1)[1].split()[0]))
        print(f"run {i + 1}: floor {floors[-1]:.2f} s, grade {grades[-1]:.2f} s", flush=True)
    floor, grade = statistics.median(floors), statistics.median(grades)
    print(
        f"median floor {floor:.2f} s | median grade {grade:.2f} s | ratio {grade / floor:.2f}"
        f" | grader peak RSS {max(peaks) / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
