"""Requests, responses, errors, the route table and GitHub-style pagination."""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .access import Identity
    from .model import Repo

API_PREFIX = "/api/v3"
DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """An error answered the way GitHub answers it: `{"message", "documentation_url"}`, and
    `errors` for validation failures."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        documentation_url: str = DOCS,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.documentation_url = documentation_url

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body["documentation_url"] = self.documentation_url
        body["status"] = str(self.status)
        return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def invalid(
    resource: str,
    field_name: str | None = None,
    *,
    code: str = "invalid",
    message: str | None = None,
) -> ApiError:
    """422 Validation Failed with one entry in `errors`."""
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field_name:
        error["field"] = field_name
    if message:
        error["message"] = message
    return ApiError(422, "Validation Failed", errors=[error])


@dataclass(frozen=True)
class Urls:
    """Where things live on the server: the API under /api/v3 (GitHub Enterprise's layout),
    web pages at the root, git's smart HTTP under /git."""

    base: str

    @property
    def api(self) -> str:
        return self.base + API_PREFIX

    @property
    def git(self) -> str:
        return self.base + "/git"


@dataclass
class Request:
    method: str
    path: str  # below the API prefix, e.g. /repos/acme/x
    query: list[tuple[str, str]]
    body: bytes
    identity: Identity | None
    urls: Urls
    headers: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return default

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            return default

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, "Problems parsing JSON") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "Problems parsing JSON")
        return data


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    jwt: bool  # authenticated as the App itself (a JWT), not as a user or installation
    greedy: bool  # has a {name*} segment: tried after every exact route


ROUTES: list[Route] = []


def _compile(template: str) -> re.Pattern[str]:
    def group(match: re.Match[str]) -> str:
        name, star = match.group(1), match.group(2)
        return f"(?P<{name}>.+)" if star else f"(?P<{name}>[^/]+)"

    return re.compile("^" + re.sub(r"\{(\w+)(\*?)\}", group, template) + "$")


def route(method: str, template: str, *, jwt: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler; `{name}` matches one path segment, `{name*}` the rest."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, _compile(template), handler, jwt, "*}" in template))
        return handler

    return register


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    for candidate in sorted(ROUTES, key=lambda r: r.greedy):
        found = candidate.pattern.match(path)
        if found and candidate.method == method:
            params = {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
            return candidate, params
    raise not_found()


def paginate(
    req: Request,
    items: list[Any],
    render: Callable[[Any], Any],
    *,
    repo: Repo | None = None,
    key: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """One page of `items` with GitHub's Link header.

    `per_page` defaults to 30 (at most 100), `page` to 1. Links are absolute; for lists under
    a repository they use `/repositories/{id}/...`, as GitHub's do. With `key`, the page is
    wrapped as `{"total_count": N, key: [...]}`."""
    per_page = min(max(req.int_arg("per_page", 30), 1), 100)
    page = max(req.int_arg("page", 1), 1)
    last = max(1, math.ceil(len(items) / per_page))
    chunk = [render(item) for item in items[(page - 1) * per_page : page * per_page]]
    headers = {}
    links = _links(req, page, last, repo)
    if links:
        headers["Link"] = links
    body: Any = chunk
    if key:
        body = {"total_count": len(items), **(extra or {}), key: chunk}
    return Response(200, body, headers)


def _links(req: Request, page: int, last: int, repo: Repo | None) -> str:
    path = req.path
    if repo is not None:
        path = re.sub(r"^/repos/[^/]+/[^/]+", f"/repositories/{repo.id}", path)

    def url(number: int) -> str:
        query = [(k, v) for k, v in req.query if k != "page"]
        query.append(("page", str(number)))
        return f"{req.urls.api}{path}?{urllib.parse.urlencode(query)}"

    rels = []
    if page > 1:
        rels.append((min(page - 1, last), "prev"))
    if page < last:
        rels += [(page + 1, "next"), (last, "last")]
    if page > 1:
        rels.append((1, "first"))
    return ", ".join(f'<{url(number)}>; rel="{rel}"' for number, rel in rels)
