"""Webhooks: registrations (repository, organisation and GitHub App hooks), signed deliveries to
127.0.0.1 only, one record per delivery attempt, and redelivery with the same delivery id.

Deliveries are made after the request that caused them has released the server's lock: by a
background thread (default), or inline before the response is sent (`inline=True`).

How GitHub delivers, and what this module copies:
- It waits `timeout` (10 s on github.com) for an answer and then records the delivery as
  failed; it never redelivers by itself ("Handling failed webhook deliveries",
  docs.github.com/webhooks/using-webhooks/handling-failed-webhook-deliveries). Each attempt is
  timed on the server's movable clock as well as in real time, so a receiver that makes the
  server's clock pass (a `stall` fault on a call it makes back) times out without a test
  waiting. A timed-out delivery shows `status` "timed out" and no status code, as GitHub's
  delivery log reports it ("We couldn't deliver this payload: timed out").
- A redelivery is a new record (new `id`, `redelivery` true) with the original's `guid`, sent
  with the same `X-GitHub-Delivery` and body ("Redelivering webhooks"; REST "Redeliver a
  delivery for an app webhook").
- Deliveries are kept for redelivery for 3 days (github/docs data/variables/webhooks.yml:
  `retention` is 3 on github.com).
- Payloads over 25 MB are not delivered at all ("Webhook events and payloads": payloads are
  capped at 25 MB)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import queue
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .model import node_id

USER_AGENT = "GitHub-Hookshot/8a3f2c1"
DEFAULT_TIMEOUT = 10.0
RETENTION_SECONDS = 3 * 24 * 3600
MAX_PAYLOAD_BYTES = 25 * 1024 * 1024


@dataclass(eq=False)
class Hook:
    id: int
    target: str  # lower-case "org", "owner/repo", or "app:ID" for a GitHub App's hook
    url: str
    secret: str | None
    events: tuple[str, ...]
    target_id: int
    target_type: str  # "organization", "repository" or "integration"

    def wants(self, event: str) -> bool:
        return "*" in self.events or event in self.events


# Where an event is heard: a hook target key, and for an App's hook the installation that
# reaches the repository (its deliveries carry `installation`).
Target = tuple[str, int | None]


@dataclass(eq=False)
class Delivery:
    """One delivery attempt, as GitHub's deliveries API lists it."""

    id: int
    guid: str
    hook: Hook
    event: str
    action: str | None
    body: bytes
    installation_id: int | None = None
    repository_id: int | None = None
    redelivery: bool = False
    original: Delivery | None = None  # the first delivery of this guid, for a redelivery
    delivered_at: float | None = None  # server time the attempt started; None until made
    duration: float | None = None  # seconds: the longer of server time and real time
    status_code: int | None = None  # the receiver's answer; 0 when none came in time
    status_text: str | None = None  # "OK", "timed out", "Invalid HTTP Response: 500", ...
    error: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def status(self) -> int | None:
        """The receiver's HTTP status, or None before the attempt, when the receiver could
        not be reached, or when it answered too late."""
        return self.status_code or None

    @property
    def ok(self) -> bool:
        """GitHub counts a delivery as delivered when the receiver answered 2XX in time."""
        return self.status_text == "OK"

    @property
    def attempts(self) -> list[Delivery]:
        """This attempt (a compatibility view: every attempt is its own record)."""
        return [self] if self.delivered_at is not None else []

    def headers(self) -> dict[str, str]:
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "X-GitHub-Event": self.event,
            "X-GitHub-Delivery": self.guid,
            "X-GitHub-Hook-ID": str(self.hook.id),
            "X-GitHub-Hook-Installation-Target-ID": str(self.hook.target_id),
            "X-GitHub-Hook-Installation-Target-Type": self.hook.target_type,
        }
        if self.hook.secret:
            key = self.hook.secret.encode()
            sha1 = hmac.new(key, self.body, hashlib.sha1).hexdigest()
            sha256 = hmac.new(key, self.body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature"] = f"sha1={sha1}"
            headers["X-Hub-Signature-256"] = f"sha256={sha256}"
        return headers


def check_loopback(url: str) -> None:
    """Deliveries go to 127.0.0.1 only."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or parsed.hostname != "127.0.0.1":
        raise ValueError(f"webhook receivers must be http://127.0.0.1 URLs, not {url!r}")


class Webhooks:
    """Hook registrations and the delivery machinery. `clock` is the server's clock and
    `new_id` hands out the server's ids."""

    def __init__(
        self,
        *,
        inline: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], int] | None = None,
    ) -> None:
        self.inline = inline
        self.timeout = timeout
        self.clock = clock
        self._new_id = new_id
        self.hooks: list[Hook] = []
        self.deliveries: list[Delivery] = []
        self.too_large: list[tuple[str, str, int]] = []  # (event, target, bytes) never sent
        self._lock = threading.Lock()
        self._outbox: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="fakegithub-hooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, hook: Hook) -> Hook:
        check_loopback(hook.url)
        with self._lock:
            self.hooks.append(hook)
        return hook

    def replace(self, hook: Hook) -> Hook:
        """Register `hook` in place of any hook on the same target (an App has one hook)."""
        check_loopback(hook.url)
        with self._lock:
            self.hooks = [h for h in self.hooks if h.target != hook.target] + [hook]
        return hook

    def emit(
        self,
        targets: list[Target],
        event: str,
        payload: dict[str, Any],
        new_id: Callable[[], int],
        *,
        repository_id: int | None = None,
    ) -> None:
        """Queue one delivery per hook on `targets` that wants `event` (sent on `flush`)."""
        with self._lock:
            for hook in self.hooks:
                for key, installation_id in targets:
                    if hook.target != key or not hook.wants(event):
                        continue
                    data = payload
                    if installation_id is not None:
                        # An App's deliveries name the installation they come through.
                        inst = {
                            "id": installation_id,
                            "node_id": node_id("IntegrationInstallation", installation_id),
                        }
                        data = {**payload, "installation": inst}
                    body = json.dumps(data, separators=(",", ":")).encode()
                    if len(body) > MAX_PAYLOAD_BYTES:
                        self.too_large.append((event, key, len(body)))
                        continue
                    delivery = Delivery(
                        new_id(),
                        str(uuid.uuid4()),
                        hook,
                        event,
                        payload.get("action"),
                        body,
                        installation_id,
                        repository_id,
                    )
                    self.deliveries.append(delivery)
                    self._outbox.append(delivery)

    def find(self, delivery_id: int | str) -> Delivery:
        """A delivery by id, or the first delivery of a guid."""
        with self._lock:
            for delivery in self.deliveries:
                if delivery_id in (delivery.id, delivery.guid):
                    return delivery
        raise KeyError(delivery_id)

    def redeliver(self, delivery_id: int | str, *, flush: bool = True) -> Delivery:
        """Queue a new attempt of a recorded delivery: a new record with the same guid and
        body, `redelivery` true. With `flush=False` the caller flushes (the API handler does,
        after the server's lock is released)."""
        found = self.find(delivery_id)
        original = found.original or found
        new_id = self._new_id or (lambda: max(d.id for d in self.deliveries) + 1)
        with self._lock:
            again = Delivery(
                new_id(),
                found.guid,
                found.hook,
                found.event,
                found.action,
                found.body,
                found.installation_id,
                found.repository_id,
                redelivery=True,
                original=original,
            )
            self.deliveries.append(again)
            self._outbox.append(again)
        if flush:
            self.flush()
        return again

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def flush(self) -> None:
        with self._lock:
            batch, self._outbox = self._outbox, []
        for delivery in batch:
            if self.inline:
                self._send(delivery)
            else:
                with self._idle:
                    self._pending += 1
                self._queue.put(delivery)

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted; False on timeout."""
        self.flush()
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._send(item)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _send(self, delivery: Delivery) -> None:
        url = urllib.parse.urlsplit(delivery.hook.url)
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        started_real, started = time.monotonic(), self.clock()
        conn = http.client.HTTPConnection("127.0.0.1", url.port or 80, timeout=self.timeout)
        status, text, error, timed_out = 0, "", None, False
        headers: dict[str, str] = {}
        try:
            conn.request("POST", path, body=delivery.body, headers=delivery.headers())
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            status, headers = response.status, dict(response.getheaders())
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
            timed_out = isinstance(exc, TimeoutError)
        finally:
            conn.close()
        took = max(time.monotonic() - started_real, self.clock() - started)
        if took > self.timeout or timed_out:
            # Too late: GitHub has dropped the connection and recorded a failure, whatever
            # the receiver did afterwards.
            status, label, headers, text = 0, "timed out", {}, ""
            took = min(took, self.timeout)
        elif error is not None:
            label = "failed to connect to host"
        elif 200 <= status < 300:
            label = "OK"
        else:
            label = f"Invalid HTTP Response: {status}"
        delivery.delivered_at = started
        delivery.duration = round(took, 3)
        delivery.status_code = status
        delivery.status_text = label
        delivery.error = error
        delivery.response_headers = headers
        delivery.response_body = text
