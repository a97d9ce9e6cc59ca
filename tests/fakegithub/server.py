"""The HTTP server: a threaded `http.server` on 127.0.0.1 that answers the REST API under
/api/v3 and git's smart HTTP under /git, applying injected faults first and logging every
request. `FakeGitHub` (in control.py) drives it."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from . import access
from .access import Identity
from .faults import WRITE_METHODS, Fault, RequestRecord, fault_response
from .githttp import GitHttp, body_chunks
from .routes import API_PREFIX, ApiError, Request, Response, match

if TYPE_CHECKING:
    from .control import FakeGitHub

# Importing the endpoint modules registers their routes.
from . import api_activity, api_apps, api_checks, api_git, api_pulls, api_repos  # noqa: E402, F401, I001


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes
    server: HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is `FakeGitHub.requests`."""

    def _serve(self) -> None:
        try:
            self.server.dispatcher.serve(self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            # Outside the API handlers (git serving, sending): record it, drop the connection.
            self.server.dispatcher.hub.errors.append(traceback.format_exc())
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class HttpServer(ThreadingHTTPServer):
    """Threads are joined on close, and open keep-alive connections are shut first, so
    stopping leaves no thread or socket behind."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


REPO_PATH = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)(?:/|$)")


class Dispatcher:
    """Turns one HTTP request into a handler call and its answer."""

    def __init__(self, hub: FakeGitHub) -> None:
        self.hub = hub
        self.git = GitHttp(hub)

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        path, _, query = handler.path.partition("?")
        method = handler.command
        if path.startswith("/git/"):
            self._serve_git(handler, method, path, query)
            return
        body = b"".join(body_chunks(handler))
        ident, auth_error = self._identify(handler)
        label = ident.label if ident else None
        fault = self.hub.faults.take(method, path)
        if fault is not None and fault.answers:
            self._answer_fault(handler, fault, ident)
            return
        self._delay(fault)
        if self._write_refused(handler, method, path, ident, auth_error):
            return
        if not path.startswith(API_PREFIX + "/") and path != API_PREFIX:
            response = Response(404, ApiError(404, "Not Found").body())
        else:
            api_path = self._alias(path[len(API_PREFIX) :] or "/")
            request = Request(
                method,
                api_path,
                urllib.parse.parse_qsl(query, keep_blank_values=True),
                body,
                ident,
                self.hub.urls,
                dict(handler.headers.items()),
            )
            response = self._call(request, auth_error)
        self.hub.hooks.flush()
        self._log(handler, response.status, label, fault.kind if fault else None)
        self._send(handler, response, label)

    def _serve_git(
        self, handler: BaseHTTPRequestHandler, method: str, path: str, query: str
    ) -> None:
        fault = self.hub.faults.take(method, path)
        if fault is not None and fault.answers:
            handler.close_connection = True
            self._answer_fault(handler, fault, None)
            return
        self._delay(fault)
        kind = fault.kind if fault else None

        def log(status: int, label: str | None) -> None:
            self._log(handler, status, label, kind)

        self.git.serve(handler, path, query, log)

    def _delay(self, fault: Fault | None) -> None:
        """`slow` sleeps for real; `stall` moves the server clock instead, so the request
        takes that long in server time (a webhook receiver that calls back in is then too
        slow for GitHub's 10 s) while the test waits for nothing."""
        if fault is None:
            return
        assert fault.seconds is not None
        if fault.kind == "slow":
            self.hub.sleep(fault.seconds)
        elif fault.kind == "stall":
            self.hub.advance_clock(fault.seconds)

    def _write_refused(
        self,
        handler: BaseHTTPRequestHandler,
        method: str,
        path: str,
        ident: Identity | None,
        auth_error: ApiError | None,
    ) -> bool:
        """GitHub's content-creation limits: a REST write by a user or an installation beyond
        80 in a minute or 500 in an hour of server time answers a secondary rate limit and
        changes nothing ("Rate limits for the REST API", docs.github.com). App JWT calls and
        git pushes are not counted; nor are anonymous or unauthenticated requests."""
        if method not in WRITE_METHODS or not path.startswith(API_PREFIX + "/"):
            return False
        if ident is None or auth_error is not None or ident.kind == "app":
            return False
        wait = self.hub.write_limits.admit(self._rate_subject(ident))
        if wait is None:
            return False
        status, headers, body = self.hub.write_limits.answer(wait)
        self._log(handler, status, ident.label, "write_limit")
        self._send(handler, Response(status, body, headers), ident.label)
        return True

    def _identify(self, handler: BaseHTTPRequestHandler) -> tuple[Identity | None, ApiError | None]:
        with self.hub.state.lock:
            try:
                return access.identify(self.hub.state, handler.headers.get("Authorization")), None
            except ApiError as exc:
                return None, exc

    def _alias(self, path: str) -> str:
        """`/repositories/{id}/...` (in GitHub's Link headers) and
        `/organizations/{id}/team/{id}/...` (teams' `url`) name the same resources."""
        with self.hub.state.lock:
            found = re.match(r"^/repositories/(\d+)(/.*)?$", path)
            if found and int(found[1]) in self.hub.state.repos_by_id:
                repo = self.hub.state.repos_by_id[int(found[1])]
                return f"/repos/{repo.full_name}{found[2] or ''}"
            found = re.match(r"^/organizations/(\d+)/team/(\d+)(/.*)?$", path)
            if found:
                for team in self.hub.state.teams.values():
                    if team.id == int(found[2]) and team.org.id == int(found[1]):
                        return f"/orgs/{team.org.login}/teams/{team.slug}{found[3] or ''}"
        return path

    def _call(self, request: Request, auth_error: ApiError | None) -> Response:
        try:
            with self._repo_lock(request), self.hub.state.lock:
                if auth_error is not None:
                    raise auth_error
                route, params = match(request.method, request.path)
                ident = request.identity
                if route.jwt and (ident is None or ident.kind != "app"):
                    raise ApiError(401, "A JSON web token could not be decoded")
                if not route.jwt and ident is not None and ident.kind == "app":
                    raise ApiError(403, "Resource not accessible by integration")
                return route.handler(self.hub, request, **params)
        except ApiError as exc:
            return Response(exc.status, exc.body(), exc.headers)
        except Exception:  # a bug in the server must show as a 500, not hang a test
            self.hub.errors.append(traceback.format_exc())
            return Response(500, {"message": "Server Error", "documentation_url": ""})

    def _repo_lock(self, request: Request) -> contextlib.AbstractContextManager[Any]:
        """Writes to a repository take its git lock before the state lock, as a git push does,
        so a push and an API write never interleave."""
        found = REPO_PATH.match(request.path)
        if request.method == "GET" or not found:
            return contextlib.nullcontext()
        with self.hub.state.lock:
            repo = self.hub.state.repo(found["owner"], found["name"])
        return repo.git_lock if repo is not None else contextlib.nullcontext()

    def _answer_fault(
        self, handler: BaseHTTPRequestHandler, fault: Fault, ident: Identity | None
    ) -> None:
        label = ident.label if ident else None
        if fault.kind == "drop":
            self._log(handler, None, label, fault.kind)
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        status, headers, body = fault_response(fault, self._rate_subject(ident), self.hub.now())
        self._log(handler, status, label, fault.kind)
        self._send(handler, Response(status, body, headers), label)

    @staticmethod
    def _rate_subject(ident: Identity | None) -> str:
        if ident is None:
            return "127.0.0.1"
        if ident.installation is not None:
            return f"installation ID {ident.installation.id}"
        if ident.kind == "app" and ident.app is not None:
            return f"app ID {ident.app.id}"
        return f"user ID {ident.account.id}" if ident.account else "127.0.0.1"

    def _send(self, handler: BaseHTTPRequestHandler, response: Response, label: str | None) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        handler.send_response(response.status)
        headers = {
            **self.hub.rate_limits.headers(label),
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": uuid.uuid4().hex[:24].upper(),
            **response.headers,
        }
        if payload:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if response.status != 204:
            headers["Content-Length"] = str(len(payload))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if payload:
            handler.wfile.write(payload)

    def _log(
        self,
        handler: BaseHTTPRequestHandler,
        status: int | None,
        label: str | None,
        fault: str | None,
    ) -> None:
        path, _, query = handler.path.partition("?")
        scheme = handler.headers.get("Authorization", "").partition(" ")[0] or None
        encoding = handler.headers.get("Content-Encoding")
        record = RequestRecord(handler.command, path, query, status, label, fault, scheme, encoding)
        self.hub.requests.append(record)
