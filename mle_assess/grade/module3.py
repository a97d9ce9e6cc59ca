"""Grade module 3: run the candidate's loader and preprocessors in a child, compare here.

The hidden data is drawn for the seed, the child gets the parts and the combined raw frame,
and sends back plain tables. The oracle's answers are computed in this process, never shown
to the child. A level whose child hangs or dies scores 0 with a flag, and the next level gets
a fresh child.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from hidden_tests.module3 import compare, oracle
from hidden_tests.module3.generate import generate
from mle_assess.children import MODULE3_CHILD
from mle_assess.grade.snapshot import Flag
from mle_assess.sandbox import ChildResult, ChildSpec, run_child
from scoring import CheckResult, Limits

LEVELS = (1, 2)
CHECKS = {
    "load": "load_data combines every CSV part into one frame sorted by id",
    "pickle": "preprocessor.pkl loads, and fit_transform and get_feature_names_out run",
    "feature_names": "get_feature_names_out gives exactly the level's feature names",
    "row_count": "fit_transform keeps one row per input row",
    "values": "every value follows the level's filling and encoding rules, unrounded",
    "no_missing": "fit_transform leaves no missing values",
}


@dataclass(frozen=True)
class CheckDetail:
    """A check's result with the reviewer-only reason it failed (never candidate-facing)."""

    check: CheckResult
    title: str
    reason: str | None


def prepare_inputs(inputs: Path, seed: int) -> None:
    """Draw the hidden data of both levels for this seed."""
    for level in LEVELS:
        generate(level, seed, inputs / f"level{level}")


def run(
    *,
    work: Path,
    inputs: Path,
    runtime_python: Path,
    limits: Limits,
    scratch: Path,
    children: Path,
    isolation: str,
) -> tuple[dict[int, dict], list[Flag], str, str]:
    """Run the child, restarting after a level that hangs or dies.

    Returns the messages by level, the flags, the log, and how limits were enforced."""
    by_level: dict[int, dict] = {}
    flags: list[Flag] = []
    logs: list[str] = []
    enforced = "rlimits"
    pending = list(LEVELS)
    while pending:
        spec = ChildSpec(
            argv=[
                str(runtime_python),
                "-I",
                f"{{bin}}/{MODULE3_CHILD.name}",
                "{submission}",
                "{inputs}",
                *map(str, pending),
            ],
            views={"submission": work, "inputs": inputs, "bin": children},
            cwd="{submission}",
            scratch=scratch / f"child-{pending[0]}",
            limits=limits,
            timeout=limits.level_seconds,
            isolation=isolation,
            expected_messages=len(pending),
        )
        result = run_child(spec)
        enforced = result.limits
        logs.append(result.log)
        for message in result.messages:
            if message.get("level") in pending and message["level"] not in by_level:
                by_level[message["level"]] = message
        pending = [lv for lv in pending if lv not in by_level]
        if pending:
            flags.append(_failure_flag(pending[0], result, limits))
            pending = pending[1:]
    return by_level, flags, "\n".join(logs), enforced


def _failure_flag(level: int, result: ChildResult, limits: Limits) -> Flag:
    if result.timed_out:
        return Flag(
            "timeout",
            f"module 3 level {level} did not finish within {limits.level_seconds} s; it scores 0",
        )
    return Flag(
        "error",
        f"module 3 level {level} stopped before it finished (the process "
        "exited or was killed); it scores 0",
    )


def expectations(inputs: Path) -> dict[int, tuple[pd.DataFrame, pd.DataFrame]]:
    """The oracle's combined frame and expected output per level."""
    frames = {level: oracle.load(inputs / f"level{level}" / "parts") for level in LEVELS}
    return {level: (frame, oracle.expected(level, frame)) for level, frame in frames.items()}


def checks(
    by_level: dict[int, dict], expected: dict[int, tuple[pd.DataFrame, pd.DataFrame]]
) -> list[CheckDetail]:
    """Compare each level's messages with the oracle: six checks per level."""
    details: list[CheckDetail] = []
    for level in LEVELS:
        frame, want = expected[level]
        try:
            verdicts = _level_verdicts(by_level.get(level), frame, want)
        except Exception:  # noqa: BLE001 - a message of the wrong shape fails the level
            verdicts = dict.fromkeys(CHECKS, "the child's answer was not in the expected form")
        for key, title in CHECKS.items():
            reason = verdicts.get(key, "not reached")
            details.append(
                CheckDetail(
                    CheckResult(
                        f"module3.level{level}.{key}", f"module3.level{level}", _points(reason)
                    ),
                    title,
                    reason,
                )
            )
    return details


def _points(reason: str | None) -> Fraction:
    return Fraction(int(reason is None))


def _level_verdicts(message: dict | None, frame: pd.DataFrame, want: pd.DataFrame) -> dict:
    if message is None:
        return {}
    verdicts: dict[str, str | None] = {"load": _load_verdict(message.get("load"), frame)}
    pre = message.get("preprocess")
    if not isinstance(pre, dict) or "error" in pre or not isinstance(pre.get("names"), list):
        verdicts["pickle"] = str(
            pre.get("error", "no output") if isinstance(pre, dict) else "no output"
        )
        return verdicts
    verdicts["pickle"] = None
    names, rows = pre["names"], pre.get("values") or []
    try:
        values = np.array(
            [[np.nan if v is None else float(v) for v in r] for r in rows], dtype=float
        ).reshape(len(rows), -1)
    except (TypeError, ValueError):
        return verdicts | dict.fromkeys(
            ("feature_names", "row_count", "values", "no_missing"),
            "the output is not a numeric table",
        )
    verdicts.update(compare.compare_output(names, values, want))
    return verdicts


def _load_verdict(load: dict | None, want: pd.DataFrame) -> str | None:
    if not isinstance(load, dict) or "error" in load:
        return str((load or {}).get("error", "no output"))
    try:
        got = pd.DataFrame(load["rows"], columns=load["columns"])
    except (KeyError, ValueError, TypeError):
        return "load_data returned a table that could not be read back"
    return compare.compare_loaded(got, want)
