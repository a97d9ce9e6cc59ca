"""Grade module 3: run the candidate's loader and preprocessors in a child, compare here.

The hidden data is drawn for the seed, the child gets the parts and the combined raw frame,
and sends back plain tables. The oracle's answers are computed in this process, never shown
to the child. A level whose child hangs or dies scores 0 with a flag, and the next level gets
a fresh child.
"""

from __future__ import annotations

import re
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
    by_level: dict[int, dict],
    expected: dict[int, tuple[pd.DataFrame, pd.DataFrame]],
    work: Path,
) -> list[CheckDetail]:
    """Compare each level's messages with the oracle: six checks per level.

    Whether the level's pickle exists is checked here, in the submission's copy, rather than
    taken from the child: code running in the child could send a message of its own."""
    details: list[CheckDetail] = []
    for level in LEVELS:
        frame, want = expected[level]
        message = by_level.get(level)
        pickle = work / "preprocessors" / f"level{level}" / "preprocessor.pkl"
        if isinstance(message, dict) and not (pickle.is_file() and not pickle.is_symlink()):
            message = {**message, "preprocess": {"error": "pickle_missing"}}
        try:
            verdicts = _level_verdicts(message, frame, want, level)
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


def _level_verdicts(
    message: dict | None, frame: pd.DataFrame, want: pd.DataFrame, level: int
) -> dict:
    if message is None:
        return {}
    verdicts: dict[str, str | None] = {"load": _load_verdict(message.get("load"), frame)}
    pre = message.get("preprocess")
    if not isinstance(pre, dict) or "error" in pre or not isinstance(pre.get("names"), list):
        verdicts["pickle"] = error_text(pre, level)
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
    if not compare.shows_preprocessing(names, values, want, frame):
        for key in STRUCTURE_CHECKS:
            if verdicts.get(key) is None:
                verdicts[key] = NOT_COUNTED
    return verdicts


# Checks a table of the right shape passes without any preprocessing; they count only when at
# least one feature the level's rules change has the right values (compare.shows_preprocessing).
STRUCTURE_CHECKS = ("pickle", "feature_names", "row_count", "no_missing")
NOT_COUNTED = "not counted: no feature that the level's rules change has the right values"

# The child reports a failure as a code; the words shown are always the grader's own.
ERRORS = {
    "not_dataframe": "load_data did not return a pandas DataFrame",
    "load_too_big": "load_data returned far more data than the parts hold",
    "pickle_missing": "preprocessors/level{level}/preprocessor.pkl is missing",
    "pickle_main": "the pickle references __main__",
    "not_2d": "fit_transform did not return a 2-D table",
    "output_too_big": "fit_transform returned far more data than it was given",
    "not_numeric": "fit_transform returned values that are not numbers",
}
_EXCEPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,59}")


def error_text(part: object, level: int) -> str:
    """The reviewer's reason for a failed step, from the child's code (never its text)."""
    if not isinstance(part, dict) or "error" not in part:
        return "no output"
    code = part["error"]
    if code == "raised":
        name = part.get("exception")
        shown = name if isinstance(name, str) and _EXCEPTION_NAME.fullmatch(name) else None
        return f"raised {shown}" if shown else "raised an exception"
    if not isinstance(code, str) or code not in ERRORS:
        return "the child's answer was not in the expected form"
    return ERRORS[code].format(level=level)


def _load_verdict(load: dict | None, want: pd.DataFrame) -> str | None:
    if not isinstance(load, dict) or "error" in load:
        return error_text(load, 0)
    try:
        got = pd.DataFrame(load["rows"], columns=load["columns"])
    except (KeyError, ValueError, TypeError):
        return "load_data returned a table that could not be read back"
    return compare.compare_loaded(got, want)
