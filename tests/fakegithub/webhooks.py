"""Webhooks: registrations, signed deliveries to 127.0.0.1 only, a record of every attempt,
and redelivery with the same delivery id.

Deliveries are made after the request that caused them has released the server's lock: by a
background thread (default), or inline before the response is sent (`inline=True`)."""

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

USER_AGENT = "GitHub-Hookshot/8a3f2c1"


@dataclass(eq=False)
class Hook:
    id: int
    target: str  # lower-case "org" or "owner/repo"
    url: str
    secret: str | None
    events: tuple[str, ...]
    target_id: int
    target_type: str  # "organization" or "repository"

    def wants(self, event: str) -> bool:
        return "*" in self.events or event in self.events


@dataclass
class Attempt:
    status: int | None  # None when the receiver could not be reached
    error: str | None
    at: float
    redelivery: bool


@dataclass(eq=False)
class Delivery:
    id: int
    guid: str
    hook: Hook
    event: str
    action: str | None
    body: bytes
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def status(self) -> int | None:
        """The receiver's status on the latest attempt (None before any, or unreachable)."""
        return self.attempts[-1].status if self.attempts else None

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
    """Hook registrations and the delivery machinery."""

    def __init__(self, *, inline: bool = False, timeout: float = 10.0) -> None:
        self.inline = inline
        self.timeout = timeout
        self.hooks: list[Hook] = []
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._outbox: list[tuple[Delivery, bool]] = []
        self._queue: queue.Queue[tuple[Delivery, bool] | None] = queue.Queue()
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

    def emit(
        self, targets: list[str], event: str, payload: dict[str, Any], new_id: Callable[[], int]
    ) -> None:
        """Queue one delivery per hook on `targets` that wants `event` (sent on `flush`)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self._lock:
            for hook in self.hooks:
                if hook.target not in targets or not hook.wants(event):
                    continue
                guid = str(uuid.uuid4())
                delivery = Delivery(new_id(), guid, hook, event, payload.get("action"), body)
                self.deliveries.append(delivery)
                self._outbox.append((delivery, False))

    def redeliver(self, delivery_id: int | str) -> Delivery:
        """Send a recorded delivery again, same id and body (GitHub's "Redeliver")."""
        with self._lock:
            found = [d for d in self.deliveries if delivery_id in (d.id, d.guid)]
            if not found:
                raise KeyError(delivery_id)
            self._outbox.append((found[0], True))
        self.flush()
        return found[0]

    def flush(self) -> None:
        with self._lock:
            batch, self._outbox = self._outbox, []
        for item in batch:
            if self.inline:
                self._send(*item)
            else:
                with self._idle:
                    self._pending += 1
                self._queue.put(item)

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
                self._send(*item)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _send(self, delivery: Delivery, redelivery: bool) -> None:
        url = urllib.parse.urlsplit(delivery.hook.url)
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        conn = http.client.HTTPConnection("127.0.0.1", url.port or 80, timeout=self.timeout)
        try:
            conn.request("POST", path, body=delivery.body, headers=delivery.headers())
            response = conn.getresponse()
            response.read()
            attempt = Attempt(response.status, None, time.time(), redelivery)
        except OSError as exc:
            attempt = Attempt(None, f"{type(exc).__name__}: {exc}", time.time(), redelivery)
        finally:
            conn.close()
        delivery.attempts.append(attempt)
