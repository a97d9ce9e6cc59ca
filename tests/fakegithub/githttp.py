"""git's smart HTTP protocol, served by running `git http-backend` as a CGI.

URLs: `/git/OWNER/NAME.git/...`. Credentials are HTTP Basic with any user name and a token as
password. A caller who cannot read gets 401 (anonymous callers are challenged first, as git
expects); one who can read but not write gets 403 on receive-pack. After a receive-pack the
branches are compared with those seen before, and each change is recorded as a push.

A GitHub App token without `workflows: write` may not push commits that touch
.github/workflows/: the CGI tells the repository's pre-receive hook (gitrepo.PRE_RECEIVE),
which refuses the whole push with GitHub's message. A repository still being generated from
its template serves no refs (an empty repository) and refuses pushes."""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, BinaryIO

from . import access, activity
from .access import Identity
from .gitrepo import NO_WORKFLOWS_ENV
from .model import Repo
from .routes import ApiError

if TYPE_CHECKING:
    from .server import FakeGitHub

GIT_PATH = re.compile(r"^/git/(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?(?P<rest>/.*)$")
CHUNK = 65536
Log = Callable[[int, "str | None"], None]


def body_chunks(handler: BaseHTTPRequestHandler) -> Iterator[bytes]:
    """The request body as it arrives: chunked transfer-encoding or Content-Length."""
    rfile = handler.rfile
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            yield rfile.read(size)
            rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    while length > 0:
        data = rfile.read(min(CHUNK, length))
        if not data:
            return
        length -= len(data)
        yield data


def _feed(chunks: Iterator[bytes], stdin: BinaryIO, gzipped: bool) -> None:
    """Copy the body into the CGI, inflating it when git sent it gzip-encoded."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    try:
        for chunk in chunks:
            stdin.write(inflater.decompress(chunk) if inflater else chunk)
        if inflater:
            stdin.write(inflater.flush())
    except (OSError, zlib.error):
        pass
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


class GitHttp:
    def __init__(self, hub: FakeGitHub) -> None:
        self.hub = hub
        self._empty_lock = threading.Lock()

    def serve(self, handler: BaseHTTPRequestHandler, path: str, query: str, log: Log) -> None:
        """Answer one git request. `log(status, caller)` is called before the response ends,
        so the request log is complete when the git command returns."""
        found = GIT_PATH.match(path)
        if not found:
            return self._plain(handler, 404, "Not Found\n", log, None)
        service = self._service(found["rest"], query)
        with self.hub.state.lock:
            repo = self.hub.state.repo(found["owner"], found["name"])
            try:
                ident = access.identify(self.hub.state, handler.headers.get("Authorization"))
            except ApiError:
                return self._challenge(handler, log, None)
            label = ident.label if ident else None
            refusal = self._refusal(ident, repo, service)
            if refusal is not None:
                status, text = refusal
                if status == 401:
                    return self._challenge(handler, log, label)
                return self._plain(handler, status, text, log, label)
        assert repo is not None
        if service == "git-receive-pack" and handler.command == "POST":
            assert ident is not None and ident.account is not None
            with repo.git_lock:
                status = self._cgi(handler, repo, found["rest"], query, ident)
                with self.hub.state.lock:
                    activity.sync_refs(self.hub, repo, ident.account)
            # Webhooks go out with no lock held (a receiver may call the API back), and
            # before the response ends, so an inline delivery is done when `git push` returns.
            self.hub.hooks.flush()
        else:
            status = self._cgi(handler, repo, found["rest"], query, ident)
        log(status, label)
        handler.wfile.write(b"0\r\n\r\n")
        return None

    def _refusal(
        self, ident: Identity | None, repo: Repo | None, service: str
    ) -> tuple[int, str] | None:
        """(status, text) when the caller may not do this; call with the state lock held."""
        if repo is None or not access.can_read(self.hub.state, ident, repo):
            return 401, ""
        if not self._may_fetch(ident, repo):
            return 401, ""
        if service == "git-receive-pack":
            if ident is None:
                return 401, ""
            if not access.can_write_repo(self.hub.state, ident, repo, "contents"):
                who = ident.account.login if ident.account else "?"
                return 403, f"Permission to {repo.full_name}.git denied to {who}.\n"
            if self.hub.state.now() < repo.ready_at:
                # Still being generated: nothing may land before the template's commit.
                return 409, "Repository is being created; try again shortly.\n"
        return None

    def _may_fetch(self, ident: Identity | None, repo: Repo) -> bool:
        if ident is None or ident.kind != "installation":
            return True
        return access.app_permission(ident, "contents") >= 1

    def _empty_repo(self) -> str:
        """An empty bare repository (made once) below GIT_PROJECT_ROOT, served in place of a
        repository whose generation has not finished; its path relative to the root."""
        relative = ".generating/empty.git"
        path = self.hub.state.root / "repos" / relative
        with self._empty_lock:
            if not path.exists():
                self.hub.git.init_bare(path, "main")
        return relative

    @staticmethod
    def _service(rest: str, query: str) -> str:
        if rest == "/info/refs":
            match = re.search(r"(?:^|&)service=([\w-]+)", query)
            return match.group(1) if match else "dumb"
        return rest.lstrip("/")

    def _challenge(self, handler: BaseHTTPRequestHandler, log: Log, label: str | None) -> None:
        text, challenge = "Authentication required\n", {"WWW-Authenticate": 'Basic realm="GitHub"'}
        self._plain(handler, 401, text, log, label, challenge)

    @staticmethod
    def _plain(
        handler: BaseHTTPRequestHandler,
        status: int,
        text: str,
        log: Log,
        label: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = text.encode()
        for _ in body_chunks(handler):
            pass
        log(status, label)
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _environ(
        self,
        handler: BaseHTTPRequestHandler,
        repo: Repo,
        rest: str,
        query: str,
        ident: Identity | None,
    ) -> dict[str, str]:
        path_info = f"/{repo.owner.login}/{repo.name}.git{rest}"
        if self.hub.state.now() < repo.ready_at:
            # Generation has not finished: fetches see an empty repository.
            path_info = f"/{self._empty_repo()}{rest}"
        env = {
            **self.hub.git.env,
            "GIT_PROJECT_ROOT": str(self.hub.state.root / "repos"),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "REQUEST_METHOD": handler.command,
            "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if ident is not None and ident.account is not None:
            env["REMOTE_USER"] = ident.account.login
        # Read by the pre-receive hook: only App tokens need `workflows: write`.
        if (
            ident is not None
            and ident.kind == "installation"
            and access.app_permission(ident, "workflows") < access.APP_LEVELS["write"]
        ):
            env[NO_WORKFLOWS_ENV] = "1"
        if handler.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = handler.headers["Git-Protocol"]
        return env

    def _cgi(
        self,
        handler: BaseHTTPRequestHandler,
        repo: Repo,
        rest: str,
        query: str,
        ident: Identity | None,
    ) -> int:
        """Run the CGI and relay its answer, all but the last chunk."""
        gzipped = handler.headers.get("Content-Encoding", "").lower() in ("gzip", "x-gzip")
        proc = subprocess.Popen(
            ["git", "http-backend"],
            env=self._environ(handler, repo, rest, query, ident),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin and proc.stdout and proc.stderr
        feeder = threading.Thread(target=_feed, args=(body_chunks(handler), proc.stdin, gzipped))
        errors: list[bytes] = []
        stderr = proc.stderr
        drain = threading.Thread(target=lambda: errors.append(stderr.read()))
        feeder.start()
        drain.start()
        try:
            status = self._relay(handler, proc.stdout)
            proc.wait()
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            feeder.join()
            drain.join()
            proc.stderr.close()
        if proc.returncode:
            self.hub.git_errors.append(f"git http-backend {rest}: " + b"".join(errors).decode())
        return status

    @staticmethod
    def _relay(handler: BaseHTTPRequestHandler, stdout: BinaryIO) -> int:
        """Turn the CGI's headers into the HTTP response head and stream its body, chunked.
        The caller writes the last chunk once any push has been recorded."""
        status, headers = 200, []
        while (line := stdout.readline().rstrip(b"\r\n")) != b"":
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name, value.strip()))
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        while data := stdout.read1(CHUNK):  # type: ignore[attr-defined]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        return status
