"""Fault injection and the request log.

A test queues faults that apply to the next N requests matching a method and a path regex
(searched in the full request path, e.g. `/api/v3/repos/acme/x/check-runs`). A fault answers
before the request is handled, so it changes no state; only `slow` goes on to handle it."""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field

KINDS = ("500", "502", "rate_limit", "secondary", "slow", "drop")
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {}."
)


@dataclass(eq=False)
class Fault:
    kind: str
    method: str | None
    path: re.Pattern[str]
    times: int
    seconds: float  # slow: the delay; rate_limit: until reset; secondary: Retry-After
    status: int  # secondary: 403 or 429
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.used >= self.times:
            return False
        return (self.method is None or self.method == method) and bool(self.path.search(path))


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered (or dropped: status None)."""

    method: str
    path: str
    query: str
    status: int | None
    identity: str | None  # a login, "app:SLUG", or None when anonymous
    fault: str | None
    auth_scheme: str | None = None  # "token", "Bearer", "Basic" or None
    content_encoding: str | None = None  # of the request body (git gzips large fetches)
    at: float = field(default_factory=time.time)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.queue: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; choose from {KINDS}")
        if fault.kind == "secondary" and fault.status not in (403, 429):
            raise ValueError("a secondary rate limit answers 403 or 429")
        with self._lock:
            self.queue.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, counted as used."""
        with self._lock:
            for fault in self.queue:
                if fault.matches(method, path):
                    fault.used += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.queue.clear()


def fault_response(fault: Fault, who: str) -> tuple[int, dict[str, str], dict[str, str]]:
    """(status, headers, body) for an answering fault; `who` is "installation ID 42" or the
    like, as in GitHub's rate-limit message."""
    if fault.kind in ("500", "502"):
        message = "Server Error" if fault.kind == "500" else "Bad Gateway"
        return int(fault.kind), {}, {"message": message, "documentation_url": RATE_DOCS}
    if fault.kind == "rate_limit":
        headers = {
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time() + fault.seconds)),
        }
        body = {"message": f"API rate limit exceeded for {who}.", "documentation_url": RATE_DOCS}
        return 403, headers, body
    request_id = uuid.uuid4().hex[:20].upper()
    headers = {"Retry-After": str(int(fault.seconds))}
    body = {"message": SECONDARY.format(request_id), "documentation_url": RATE_DOCS}
    return fault.status, headers, body


class RateLimits:
    """The X-RateLimit-* headers every API response carries: 5000 an hour per caller (60 for
    anonymous callers), counted but never enforced (use a `rate_limit` fault for that)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[str, tuple[float, int]] = {}

    def headers(self, who: str | None) -> dict[str, str]:
        key = who or "anonymous"
        limit = 60 if who is None else 5000
        now = time.time()
        with self._lock:
            start, used = self._used.get(key, (now, 0))
            if now >= start + 3600:
                start, used = now, 0
            used += 1
            self._used[key] = (start, used)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": str(int(start + 3600)),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }
