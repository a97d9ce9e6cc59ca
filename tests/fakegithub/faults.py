"""Fault injection, the request log, and GitHub's rate limits.

A test queues faults that apply to the next N requests matching a method and a path regex
(searched in the full request path, e.g. `/api/v3/repos/acme/x/check-runs`). A fault answers
before the request is handled, so it changes no state; only `slow` and `stall` go on to
handle it (`slow` after a real sleep, `stall` after moving the server clock).

`RateLimits` writes the X-RateLimit-* headers on the server clock; `WriteLimits` enforces
GitHub's secondary limits on content-creating requests (80 a minute, 500 an hour)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

KINDS = ("500", "502", "rate_limit", "secondary", "slow", "stall", "drop")
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {}."
)
# REST "Rate limits for the REST API" (docs.github.com, and github/docs
# data/reusables/rest-api/secondary-rate-limit-rest-graphql.md): in general at most 80
# content-generating requests a minute and 500 an hour.
WRITES_PER_MINUTE = 80
WRITES_PER_HOUR = 500
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@dataclass(eq=False)
class Fault:
    kind: str
    method: str | None
    path: re.Pattern[str]
    times: int
    # slow: the real delay; stall: server seconds the clock moves; rate_limit: seconds until
    # X-RateLimit-Reset; secondary: Retry-After, or None for no Retry-After header.
    seconds: float | None
    status: int  # rate_limit and secondary: 403 or 429
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.used >= self.times:
            return False
        return (self.method is None or self.method == method) and bool(self.path.search(path))

    @property
    def answers(self) -> bool:
        """Whether the fault answers in place of the handler (slow and stall do not)."""
        return self.kind not in ("slow", "stall")


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered (or dropped: status None)."""

    method: str
    path: str
    query: str
    status: int | None
    identity: str | None  # a login, "app:SLUG", or None when anonymous
    fault: str | None  # an injected fault's kind, or "write_limit" for a refused write
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
        if fault.kind in ("secondary", "rate_limit") and fault.status not in (403, 429):
            raise ValueError("a rate limit answers 403 or 429")
        if fault.kind in ("slow", "stall", "rate_limit") and fault.seconds is None:
            raise ValueError(f"a {fault.kind} fault needs seconds")
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


def secondary_response(
    status: int, retry_after: float | None
) -> tuple[int, dict[str, str], dict[str, str]]:
    """A secondary rate limit: 403 or 429, with or without Retry-After. REST "Rate limits for
    the REST API" says either status may come, and that without Retry-After a client should
    wait at least a minute."""
    headers = {} if retry_after is None else {"Retry-After": str(max(int(retry_after), 0))}
    request_id = uuid.uuid4().hex[:20].upper()
    body = {"message": SECONDARY.format(request_id), "documentation_url": RATE_DOCS}
    return status, headers, body


def fault_response(
    fault: Fault, who: str, now: float
) -> tuple[int, dict[str, str], dict[str, str]]:
    """(status, headers, body) for an answering fault; `who` is "installation ID 42" or the
    like, as in GitHub's rate-limit message; `now` is the server clock."""
    if fault.kind in ("500", "502"):
        message = "Server Error" if fault.kind == "500" else "Bad Gateway"
        return int(fault.kind), {}, {"message": message, "documentation_url": RATE_DOCS}
    if fault.kind == "rate_limit":
        # A primary limit: x-ratelimit-remaining 0 and the reset on the server's clock; REST
        # "Rate limits for the REST API" lists both 403 and 429 for it.
        assert fault.seconds is not None
        headers = {
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(now + fault.seconds)),
        }
        body = {"message": f"API rate limit exceeded for {who}.", "documentation_url": RATE_DOCS}
        return fault.status, headers, body
    return secondary_response(fault.status, fault.seconds)


class RateLimits:
    """The X-RateLimit-* headers every API response carries: 5000 an hour per caller (60 for
    anonymous callers), counted on the server clock but never enforced (use a `rate_limit`
    fault for that)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._used: dict[str, tuple[float, int]] = {}

    def headers(self, who: str | None) -> dict[str, str]:
        key = who or "anonymous"
        limit = 60 if who is None else 5000
        now = self._clock()
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


class WriteLimits:
    """GitHub's content-creation limits, per identity, over sliding windows of server time.

    A write (POST/PATCH/PUT/DELETE) by a user or an installation is admitted while the caller
    has made fewer than `per_minute` admitted writes in the last 60 s and fewer than
    `per_hour` in the last 3600 s; otherwise the server answers a secondary rate limit and
    changes nothing. `status` is 403 or 429 and `retry_after` says whether the answer carries
    Retry-After (the seconds until a write would be admitted again): GitHub documents both."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        enabled: bool = True,
        status: int = 403,
        retry_after: bool = False,
        per_minute: int = WRITES_PER_MINUTE,
        per_hour: int = WRITES_PER_HOUR,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._times: dict[str, deque[float]] = {}
        self.enabled = enabled
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.status = status
        self.retry_after = retry_after
        self.refused = 0
        self.configure(status=status, retry_after=retry_after)

    def configure(self, *, status: int | None = None, retry_after: bool | None = None) -> None:
        if status is not None:
            if status not in (403, 429):
                raise ValueError("a secondary rate limit answers 403 or 429")
            self.status = status
        if retry_after is not None:
            self.retry_after = retry_after

    def admit(self, who: str) -> float | None:
        """None when the write may go ahead (and it is counted); otherwise the seconds until
        one would be admitted."""
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            times = self._times.setdefault(who, deque())
            while times and times[0] <= now - 3600:
                times.popleft()
            in_minute = [t for t in times if t > now - 60]
            waits = []
            if len(in_minute) >= self.per_minute:
                waits.append(in_minute[-self.per_minute] + 60 - now)
            if len(times) >= self.per_hour:
                waits.append(times[-self.per_hour] + 3600 - now)
            if waits:
                self.refused += 1
                return max(max(waits), 1.0)
            times.append(now)
            return None

    def answer(self, wait: float) -> tuple[int, dict[str, str], dict[str, str]]:
        return secondary_response(self.status, wait if self.retry_after else None)

    def used(self, who: str, window: float = 60.0) -> int:
        """Admitted writes by `who` in the last `window` seconds of server time."""
        now = self._clock()
        with self._lock:
            return sum(1 for t in self._times.get(who, ()) if t > now - window)
