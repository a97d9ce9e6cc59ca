"""Helpers for the board's browser tests: Debian's Chromium driven by Playwright (never a
downloaded browser), the board served over real HTTP on 127.0.0.1, full-page screenshots at
desktop and phone widths, and axe-core's accessibility audit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "board"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
START_SECONDS = 30  # how long the board may take to answer after it is started


def _missing(reason: str) -> None:
    """A missing tool fails the test as root (`make test` installs it), else skips it."""
    if os.geteuid() == 0:
        pytest.fail(f"{reason}; running as root, `make test` installs it")
    pytest.skip(f"{reason}; as root, `make test` installs it")


def chromium() -> str:
    """The path of Debian's Chromium, with Playwright importable (or fail/skip, saying why)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("Playwright is not installed in this environment (pip install -e '.[dev]')")
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    _missing("Chromium is not installed (apt-get install chromium)")
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def board_command(db_url: str, log: Path) -> Iterator[str]:
    """`mle-assess board --db URL --port N` as users run it, on a free port; yields its base URL
    once it answers (bounded), and terminates it and waits for it afterwards."""
    script = Path(sys.executable).with_name("mle-assess")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mle_assess"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLE_ASSESS_")}
    env["PYTHONUNBUFFERED"] = "1"
    for _attempt in range(3):  # another process may take the free port before the board does
        port = free_port()
        base = f"http://127.0.0.1:{port}/"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*command, "board", "--db", db_url, "--port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            deadline = time.monotonic() + START_SECONDS
            while proc.poll() is None and time.monotonic() < deadline:
                if _answers(base + "login"):
                    break
                time.sleep(0.1)
            text = log.read_text(encoding="utf-8", errors="replace")
            if proc.poll() is not None:
                if "Address already in use" in text:
                    continue
                raise AssertionError(f"the board exited with {proc.returncode}:\n{text}")
            if not _answers(base + "login"):
                raise AssertionError(f"the board did not answer in {START_SECONDS} s:\n{text}")
            assert f"board on {base}" in text, text
            yield base
            return
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    raise AssertionError("no free port for the board after 3 tries")


@contextmanager
def board_thread(app) -> Iterator[str]:  # noqa: ANN001 - a Flask app
    """`app` served by werkzeug in a thread on a free port of 127.0.0.1; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        engine = getattr(app.extensions["mle_assess_sessions"], "kw", {}).get("bind")
        if engine is not None:
            engine.dispose()


OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = [...document.body.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > width + 1 && !e.closest('.table-scroll'))
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width,
          wide: wide.slice(0, 8)};
}"""


def shoot(page, name: str) -> None:  # noqa: ANN001 - a Playwright page
    """Full-page screenshots at desktop and phone widths, saved as
    test-artifacts/board/<name>-<width>.png; at phone width the page must not be wider than
    the screen (a wide table scrolls inside its own box instead)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    try:
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            page.screenshot(path=ARTIFACTS / f"{name}-{size['width']}.png", full_page=True)
        fit = page.evaluate(OVERFLOW)
        assert fit["scrollWidth"] <= fit["innerWidth"], f"{name} overflows at phone width: {fit}"
    finally:
        page.set_viewport_size(before)


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:  # noqa: ANN001
    """axe-core's violations of the page (of the given impacts), each with a few targets."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))"""
    )
    return [v for v in found if v["impact"] in impacts]
