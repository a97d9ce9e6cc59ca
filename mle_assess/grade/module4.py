"""Grade module 4: start the candidate's app once in a child, send every level's requests,
and compare the responses here with the expected status, JSON body and content type."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from hidden_tests.module4.cases import Case, cases
from mle_assess.children import MODULE4_CHILD
from mle_assess.grade.module3 import CheckDetail
from mle_assess.grade.snapshot import Flag
from mle_assess.sandbox import ChildSpec, run_child
from scoring import CheckResult, Limits

LEVELS = (1, 2)
# The child reports why the app did not start as a code; the text shown is always ours.
START_FAILURES = {
    "missing": ("error", "app.py is missing"),
    "exited": ("error", "app.py exited before it started listening"),
    "no_listen": ("timeout", "app.py did not listen on its port within {startup} s"),
    "unknown": ("error", "the app could not be started"),
}
PARAMS = Path(__file__).resolve().parents[2] / "hidden_tests" / "module4" / "model_params.json"


@dataclass(frozen=True)
class Module4Run:
    """The child's answers: whether the app started, and the responses per level."""

    started: bool
    responses: dict[int, list[dict]]
    flags: list[Flag]
    log: str
    limits: str = "rlimits"


def prepare_inputs(inputs: Path, seed: int) -> dict[int, list[Case]]:
    """Draw the cases; the child gets only the requests, never the expected answers."""
    params = json.loads(PARAMS.read_text(encoding="utf-8"))
    drawn = {level: cases(level, seed, params) for level in LEVELS}
    requests = {
        str(level): [
            {"content_type": c.content_type, "body": c.body.decode("utf-8")} for c in drawn[level]
        ]
        for level in LEVELS
    }
    inputs.mkdir(parents=True, exist_ok=True)
    (inputs / "requests.json").write_text(json.dumps({"levels": requests}), encoding="utf-8")
    return drawn


def run(
    *,
    work: Path,
    inputs: Path,
    runtime_python: Path,
    limits: Limits,
    scratch: Path,
    children: Path,
    isolation: str,
) -> Module4Run:
    """Start the app beside the probe and collect every level's responses."""
    spec = ChildSpec(
        argv=[
            str(runtime_python),
            "-I",
            f"{{bin}}/{MODULE4_CHILD.name}",
            "{submission}",
            "{requests}/requests.json",
            "{port}",
            str(limits.app_startup_seconds),
            str(limits.request_seconds),
        ],
        companion=[str(runtime_python), "app.py", "--port", "{port}"],
        views={"submission": work, "requests": inputs, "bin": children},
        private_views=frozenset({"requests"}),
        cwd="{submission}",
        scratch=scratch,
        limits=limits,
        isolation=isolation,
        expected_messages=1 + len(LEVELS),
        timeout=max(limits.level_seconds, limits.app_startup_seconds + 5),
    )
    result = run_child(spec)
    first = next((m for m in result.messages if "started" in m), {})
    responses = {
        m["level"]: m["responses"]
        for m in result.messages
        if m.get("level") in LEVELS and isinstance(m.get("responses"), list)
    }
    started = first.get("started") is True
    flags = []
    if not started:
        kind, text = START_FAILURES.get(str(first.get("reason")), START_FAILURES["unknown"])
        if result.timed_out:
            kind = "timeout"
        text = text.format(startup=limits.app_startup_seconds)
        flags.append(Flag(kind, f"module 4: {text}; its checks score 0"))
    elif result.timed_out:
        missing = [lv for lv in LEVELS if lv not in responses] or [LEVELS[-1]]
        flags.append(
            Flag(
                "timeout",
                f"module 4 level {missing[0]} did not finish within {limits.level_seconds} s",
            )
        )
    return Module4Run(started, responses, flags, result.log, result.limits)


def checks(drawn: dict[int, list[Case]], run_: Module4Run) -> list[CheckDetail]:
    """One check per case: status, exact JSON body and a JSON content type, together."""
    details = []
    for level in LEVELS:
        got = run_.responses.get(level, [])
        for i, case in enumerate(drawn[level]):
            try:
                reason = verdict(case, got[i] if i < len(got) else None)
            except Exception:  # noqa: BLE001 - an answer of the wrong shape fails its check
                reason = "the child's answer was not in the expected form"
            details.append(
                CheckDetail(
                    CheckResult(
                        f"module4.level{level}.{i + 1:02d}",
                        f"module4.level{level}",
                        Fraction(int(reason is None)),
                    ),
                    case.name,
                    reason,
                )
            )
    return details


def verdict(case: Case, response: dict | None) -> str | None:
    """None when the response is right; else a reviewer-facing reason."""
    if not isinstance(response, dict) or not response:
        return "no response"
    if "error" in response or not isinstance(response.get("status"), int):
        return "no response (timeout or connection failure)"
    problems = []
    if response.get("status") != case.status:
        problems.append(f"status {response.get('status')} (expected {case.status})")
    if str(response.get("content_type", "")).split(";")[0].strip().lower() != "application/json":
        problems.append("content type is not application/json")
    try:
        body = json.loads(str(response.get("body", "")), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        body = None
    if not body_matches(body, case.expected):
        problems.append("body differs from the expected JSON")
    return "; ".join(problems) or None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def body_matches(got: object, want: dict) -> bool:
    """The same keys and values; a number matches within 1e-9 (float noise from a rounding
    done another way), and a boolean never stands for a number."""
    if not isinstance(got, dict) or set(got) != set(want):
        return False
    for key, expected in want.items():
        value = got[key]
        if isinstance(expected, (int, float)) and not isinstance(expected, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            if not math.isfinite(value) or abs(value - expected) > 1e-9:
                return False
        elif value != expected or type(value) is not type(expected):
            return False
    return True
