"""Grade module 4: start the candidate's app once in a child, send every level's requests,
and compare the responses here with the expected status, JSON body and content type."""

from __future__ import annotations

import json
import socket
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
PARAMS = Path(__file__).resolve().parents[2] / "hidden_tests" / "module4" / "model_params.json"


@dataclass(frozen=True)
class Module4Run:
    """The child's answers: whether the app started, and the responses per level."""

    started: bool
    responses: dict[int, list[dict]]
    flags: list[Flag]
    log: str


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


def free_port() -> int:
    """A port free on loopback now (reduced isolation shares the host's network)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(
    *, work: Path, inputs: Path, runtime_python: Path, limits: Limits, home: Path
) -> Module4Run:
    """Start the app in the child and collect every level's responses."""
    argv = [
        str(runtime_python),
        "-I",
        str(MODULE4_CHILD),
        str(work),
        str(inputs / "requests.json"),
        str(free_port()),
        str(limits.app_startup_seconds),
        str(limits.request_seconds),
    ]
    result = run_child(
        ChildSpec(
            argv=argv,
            cwd=work,
            home=home,
            limits=limits,
            expected_messages=1 + len(LEVELS),
            timeout=max(limits.level_seconds, limits.app_startup_seconds + 5),
        )
    )
    first = result.messages[0] if result.messages else {}
    responses = {
        m["level"]: m.get("responses", [])
        for m in result.messages[1:]
        if isinstance(m.get("level"), int)
    }
    flags = []
    if not first.get("started"):
        reason = str(first.get("reason", "the app could not be started"))
        kind = "timeout" if "within" in reason or result.timed_out else "error"
        flags.append(Flag(kind, f"module 4: {reason}; its checks score 0"))
    elif result.timed_out:
        missing = [lv for lv in LEVELS if lv not in responses]
        flags.append(
            Flag(
                "timeout",
                f"module 4 level {missing[0]} did not finish within {limits.level_seconds} s",
            )
        )
    return Module4Run(bool(first.get("started")), responses, flags, result.log)


def checks(drawn: dict[int, list[Case]], run_: Module4Run) -> list[CheckDetail]:
    """One check per case: status, exact JSON body and a JSON content type, together."""
    details = []
    for level in LEVELS:
        got = run_.responses.get(level, [])
        for i, case in enumerate(drawn[level]):
            reason = verdict(case, got[i] if i < len(got) else None)
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
    if not response:
        return "no response"
    if "error" in response:
        return f"no response ({response['error']})"
    problems = []
    if response.get("status") != case.status:
        problems.append(f"status {response.get('status')} (expected {case.status})")
    if response.get("content_type", "").split(";")[0].strip().lower() != "application/json":
        problems.append("content type is not application/json")
    try:
        body = json.loads(response.get("body", ""))
    except ValueError:
        body = None
    if not body_matches(body, case.expected):
        problems.append("body differs from the expected JSON")
    return "; ".join(problems) or None


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
            if abs(value - expected) > 1e-9:
                return False
        elif value != expected or type(value) is not type(expected):
            return False
    return True
