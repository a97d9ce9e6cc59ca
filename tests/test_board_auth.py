"""The login throttle: five failures within the window block a key, the window slides, and a
flood of made-up user names cannot grow it without bound."""

from __future__ import annotations

from mle_assess.board import auth
from mle_assess.board.auth import MAX_FAILURES, Throttle


def test_failures_block_a_key_until_the_window_has_passed(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    throttle = Throttle()
    for _ in range(MAX_FAILURES - 1):
        throttle.fail("user:ada", "addr:127.0.0.1")
    assert not throttle.blocked("user:ada")
    throttle.fail("user:ada", "addr:127.0.0.1")
    assert throttle.blocked("user:ada") and throttle.blocked("addr:127.0.0.1")
    assert not throttle.blocked("user:bo")
    clock[0] += auth.WINDOW_SECONDS + 1
    assert not throttle.blocked("user:ada", "addr:127.0.0.1")
    assert len(throttle) == 0  # nothing recent is kept


def test_a_flood_of_names_stays_bounded_and_recent_failures_still_count(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    throttle = Throttle()
    for _ in range(MAX_FAILURES):
        throttle.fail("addr:10.1.2.3")
    for i in range(3 * Throttle.MAX_KEYS):
        clock[0] += 0.001
        throttle.fail(f"user:made-up-{i}")
    assert len(throttle) <= Throttle.MAX_KEYS
    assert throttle.blocked(f"user:made-up-{3 * Throttle.MAX_KEYS - 1}") is False
    for _ in range(MAX_FAILURES - 1):
        throttle.fail(f"user:made-up-{3 * Throttle.MAX_KEYS - 1}")
    assert throttle.blocked(f"user:made-up-{3 * Throttle.MAX_KEYS - 1}")
