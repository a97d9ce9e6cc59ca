"""A webhook receiver on 127.0.0.1 for the tests: it keeps every request it gets."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps every request; `on_post(headers, payload)`
    runs before it answers and returns the status to answer (202 when it returns None)."""

    def __init__(
        self, on_post: Callable[[dict[str, str], dict[str, Any]], int | None] | None = None
    ) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                outer.received.append((headers, body))
                status = on_post(headers, json.loads(body)) if on_post else None
                self.send_response(status or 202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/github"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,))
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def of(self, event: str) -> list[tuple[dict[str, str], dict[str, Any], bytes]]:
        """The requests received for `event`: headers, payload and raw body."""
        return [
            (headers, json.loads(body), body)
            for headers, body in self.received
            if headers["X-GitHub-Event"] == event
        ]
