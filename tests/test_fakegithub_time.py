"""The test GitHub server's time-dependent behaviour, over HTTP: one movable server clock, the
events API's lag and bounds, the repository activity API, webhook deliveries (timeouts, the
App's hook, the hook-deliveries endpoints, redelivery, the 25 MB cap) and rate limits (the
content-creation limits and primary/secondary limit faults in both styles).

Nothing here waits for real time to pass beyond a fraction of a second: the tests move the
server's clock (`FakeGitHub.advance_clock`) or make a request stall on it."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from fakegithub import AppCredentials, FakeGitHub, bypass_proxies
from fakegithub import fake_github as _fake_github  # noqa: F401  (registers the fixture)
from fakegithub.gitclient import git as run_git
from fakegithub.receiver import Receiver
from github import Auth, Github

SECRET = "s3cret-hook"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that start their own server bypass proxies too."""
    bypass_proxies(monkeypatch)


# ----- helpers ---------------------------------------------------------------------------


def git(*args: str, cwd: Path | None = None) -> str:
    return run_git(*args, cwd=cwd).stdout.strip()


def commit(work: Path, name: str, text: str) -> str:
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"Write {name}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def api(
    server: FakeGitHub,
    method: str,
    path: str,
    token: str | None = None,
    *,
    bearer: str | None = None,
    **kwargs: Any,
) -> requests.Response:
    """A raw request (a token, or a Bearer JWT), for status lines and headers."""
    kwargs.setdefault("timeout", 15)
    headers = {}
    if token:
        headers["Authorization"] = f"token {token}"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    url = path if path.startswith("http") else server.api_url + path
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, url, headers=headers, **kwargs)


def app_jwt(app: AppCredentials) -> str:
    """An App JWT as PyGithub makes one (wall-clock times: the client's own clock)."""
    now = int(time.time())
    claims = {"iat": now - 60, "exp": now + 540, "iss": str(app.id)}
    return jwt.encode(claims, app.private_key_pem, algorithm="RS256")


def next_link(response: requests.Response) -> str | None:
    return response.links.get("next", {}).get("url")


@dataclass
class World:
    """acme: alice owns it; cand is a candidate with push access to acme/cand-1 (a README on
    main); the mle-grader App is installed on every acme repository."""

    server: FakeGitHub
    app: AppCredentials
    alice: str
    cand: str
    bot: str

    def clone(self, tmp_path: Path, name: str = "cand-1") -> Path:
        work = tmp_path / f"clone-{uuid.uuid4().hex[:6]}"
        git("clone", "-q", self.server.clone_url("acme", name, self.cand), str(work))
        return work


def make_world(server: FakeGitHub) -> World:
    alice = server.add_user("alice")
    cand = server.add_user("cand")
    server.add_org("acme", owners=("alice",))
    app = server.add_app("mle-grader", "acme")
    server.create_repo("acme", "cand-1", files={"README.md": "# Assessment\n"})
    server.add_collaborator("acme", "cand-1", "cand")
    bot = server.installation_token(app.installation_id)
    return World(server, app, alice, cand, bot)


@pytest.fixture
def world(fake_github: FakeGitHub) -> World:
    return make_world(fake_github)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    yield hooks
    hooks.close()


# ----- the clock ---------------------------------------------------------------------------


def test_one_server_clock_moves_every_timestamp_and_the_rate_limit_reset(world: World):
    server = world.server
    start = server.now()
    assert abs(server.clock().timestamp() - start) < 1
    assert server.clock().tzinfo is not None and server.clock().utcoffset() == timedelta(0)
    server.advance_clock(2 * 3600)
    assert server.now() - start >= 2 * 3600
    assert server.clock() > datetime.now(UTC) + timedelta(minutes=119)

    response = api(server, "GET", "/repos/acme/cand-1", world.bot)
    reset = int(response.headers["X-RateLimit-Reset"])
    assert abs(reset - (server.now() + 3600)) < 5  # an hour from server time, not wall time

    # An installation token minted now expires an hour later on the server's clock.
    raw = api(
        server,
        "POST",
        f"/app/installations/{world.app.installation_id}/access_tokens",
        bearer=app_jwt(world.app),
    )
    assert raw.status_code == 201
    expires = datetime.fromisoformat(raw.json()["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - server.clock()).total_seconds() - 3600) < 5

    # A commit made through the API is timed by the same clock, and so is its activity.
    response = api(
        server,
        "PUT",
        "/repos/acme/cand-1/contents/notes.txt",
        world.cand,
        json={"message": "Notes", "content": "bm90ZXMK"},
    )
    assert response.status_code == 201
    [entry] = api(server, "GET", "/repos/acme/cand-1/activity", world.cand).json()
    stamp = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
    assert abs((stamp - server.clock()).total_seconds()) < 5


def test_a_stall_fault_moves_the_server_clock_instead_of_sleeping(world: World):
    server = world.server
    server.inject(kind="stall", method="GET", path=r"/repos/acme/cand-1$", seconds=45)
    before = server.now()
    assert api(server, "GET", "/repos/acme/cand-1", world.bot).status_code == 200
    assert server.now() - before >= 45
    [record] = server.requests_matching("GET", r"/repos/acme/cand-1$")
    assert record.fault == "stall" and record.status == 200
    after = server.now()
    assert api(server, "GET", "/repos/acme/cand-1", world.bot).status_code == 200
    assert server.now() - after < 30  # used up: the next request does not stall


# ----- the events API -------------------------------------------------------------------------


def test_events_appear_only_after_the_lag(tmp_path: Path):
    with FakeGitHub(tmp_path / "gh", events_lag_seconds=6 * 3600) as server:
        w = make_world(server)
        work = w.clone(tmp_path)
        sha = commit(work, "answers.yaml", "q1: b\n")
        git("push", "-q", "origin", "HEAD:main", cwd=work)

        def listed() -> list[dict[str, Any]]:
            response = api(server, "GET", "/repos/acme/cand-1/events", w.cand)
            assert response.status_code == 200
            return response.json()

        assert listed() == []  # GitHub documents 30 s to 6 h of latency
        assert server.events("acme", "cand-1")[0]["payload"]["head"] == sha  # control view
        server.advance_clock(6 * 3600 - 60)
        assert listed() == []
        server.advance_clock(61)
        [event] = listed()
        assert event["type"] == "PushEvent" and event["payload"]["head"] == sha
        with Github(base_url=server.api_url, auth=Auth.Token(w.cand), retry=None) as g:
            [seen] = list(g.get_repo("acme/cand-1").get_events())
            assert seen.payload["head"] == sha


def test_events_api_keeps_the_newest_300_of_the_last_30_days(world: World, tmp_path: Path):
    server = world.server
    work = world.clone(tmp_path)
    # One push of 310 new branches: 310 push events in one request.
    for number in range(310):
        git("branch", f"b{number:03d}", cwd=work)
    git("push", "-q", "origin", "--all", cwd=work)
    assert len(server.events("acme", "cand-1")) == 310
    server.advance_clock(server.events_lag_seconds)

    refs: list[str] = []
    url: str | None = "/repos/acme/cand-1/events?per_page=100"
    while url:
        response = api(server, "GET", url, world.cand)
        assert response.status_code == 200
        refs += [e["payload"]["ref"] for e in response.json()]
        url = next_link(response)
    assert len(refs) == 300
    assert "refs/heads/b309" in refs and "refs/heads/b000" not in refs  # the newest kept

    server.advance_clock(30 * 24 * 3600)
    assert api(server, "GET", "/repos/acme/cand-1/events", world.cand).json() == []
    git("push", "-q", "origin", "HEAD:refs/heads/late", cwd=work)
    server.advance_clock(server.events_lag_seconds)
    [late] = api(server, "GET", "/repos/acme/cand-1/events", world.cand).json()
    assert late["payload"]["ref"] == "refs/heads/late"


# ----- the repository activity API -----------------------------------------------------------


def test_activity_records_each_kind_of_branch_change_at_once(world: World, tmp_path: Path):
    server = world.server
    work = world.clone(tmp_path)
    first = git("rev-parse", "HEAD", cwd=work)
    second = commit(work, "a.txt", "a\n")
    git("push", "-q", "origin", "HEAD:main", cwd=work)  # push
    git("push", "-q", "origin", "HEAD:refs/heads/topic", cwd=work)  # branch_creation
    git("reset", "-q", "--hard", first, cwd=work)
    forced = commit(work, "b.txt", "b\n")
    git("push", "-q", "--force", "origin", "HEAD:main", cwd=work)  # force_push
    git("push", "-q", "origin", ":refs/heads/topic", cwd=work)  # branch_deletion
    created = api(
        server,
        "POST",
        "/repos/acme/cand-1/git/refs",
        world.alice,
        json={"ref": "refs/heads/review", "sha": forced},
    )
    assert created.status_code == 201  # branch_creation through the API, by alice
    put = api(
        server,
        "PUT",
        "/repos/acme/cand-1/contents/c.txt",
        world.alice,
        json={"message": "c", "content": "Ywo=", "branch": "review"},
    )
    assert put.status_code == 201  # push through the contents API
    merged = commit(work, "d.txt", "d\n")
    git("push", "-q", server.file_url("acme", "cand-1"), "HEAD:main", cwd=work)
    server.notice_push("acme", "cand-1", "alice", activity_type="pr_merge")

    # No lag: everything is listed at once, newest first.
    response = api(server, "GET", "/repos/acme/cand-1/activity", world.cand)
    assert response.status_code == 200
    items = response.json()
    assert [(a["activity_type"], a["ref"]) for a in items] == [
        ("pr_merge", "refs/heads/main"),
        ("push", "refs/heads/review"),
        ("branch_creation", "refs/heads/review"),
        ("branch_deletion", "refs/heads/topic"),
        ("force_push", "refs/heads/main"),
        ("branch_creation", "refs/heads/topic"),
        ("push", "refs/heads/main"),
    ]
    newest, oldest = items[0], items[-1]
    assert set(newest) == {
        "id",
        "node_id",
        "before",
        "after",
        "ref",
        "timestamp",
        "activity_type",
        "actor",
    }
    assert newest["before"] == forced and newest["after"] == merged
    assert newest["actor"]["login"] == "alice"
    assert oldest["before"] == first and oldest["after"] == second
    assert oldest["actor"]["login"] == "cand"
    assert items[3]["after"] == "0" * 40  # a deletion ends at the zero sha
    assert items[4]["before"] == second and items[4]["after"] == forced
    datetime.fromisoformat(oldest["timestamp"].replace("Z", "+00:00"))

    def types(query: str) -> list[str]:
        found = api(server, "GET", f"/repos/acme/cand-1/activity?{query}", world.cand)
        assert found.status_code == 200, found.text
        return [a["activity_type"] for a in found.json()]

    assert types("activity_type=force_push") == ["force_push"]
    assert types("ref=main") == types("ref=refs/heads/main") == ["pr_merge", "force_push", "push"]
    assert types("actor=alice") == ["pr_merge", "push", "branch_creation"]
    assert types("direction=asc")[0] == "push"
    assert types("time_period=day") == [a["activity_type"] for a in items]
    server.advance_clock(2 * 24 * 3600)
    assert types("time_period=day") == []
    assert len(types("time_period=week")) == 7
    for bad in ("activity_type=merge", "time_period=decade", "direction=up"):
        assert (
            api(server, "GET", f"/repos/acme/cand-1/activity?{bad}", world.cand).status_code == 422
        )


def test_activity_pages_through_cursors_in_the_link_header(world: World, tmp_path: Path):
    server = world.server
    work = world.clone(tmp_path)
    for number in range(5):
        commit(work, f"f{number}.txt", f"{number}\n")
        git("push", "-q", "origin", "HEAD:main", cwd=work)
    everything = [
        a["id"] for a in api(server, "GET", "/repos/acme/cand-1/activity", world.cand).json()
    ]
    assert len(everything) == 5 and everything == sorted(everything, reverse=True)

    seen: list[int] = []
    pages = []
    url: str | None = "/repos/acme/cand-1/activity?per_page=2"
    while url:
        response = api(server, "GET", url, world.cand)
        assert response.status_code == 200
        pages.append(response)
        seen += [a["id"] for a in response.json()]
        url = next_link(response)
    assert seen == everything and len(pages) == 3
    second = pages[1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(second.links["prev"]["url"]).query)
    assert "before" in query and query["per_page"] == ["2"]
    back = api(server, "GET", second.links["prev"]["url"], world.cand).json()
    assert [a["id"] for a in back] == everything[:2]
    assert "prev" not in pages[0].links and "next" not in pages[-1].links

    # The same in ascending order.
    seen = []
    url = "/repos/acme/cand-1/activity?per_page=2&direction=asc"
    while url:
        response = api(server, "GET", url, world.cand)
        seen += [a["id"] for a in response.json()]
        url = next_link(response)
    assert seen == list(reversed(everything))


def test_activity_needs_read_access(world: World):
    server = world.server
    stranger = server.add_user("stranger")
    assert api(server, "GET", "/repos/acme/cand-1/activity", stranger).status_code == 404
    assert api(server, "GET", "/repos/acme/cand-1/activity").status_code == 404
    assert api(server, "GET", "/repos/acme/cand-1/activity", world.bot).status_code == 200


# ----- webhooks -------------------------------------------------------------------------------


def deliveries(w: World, query: str = "") -> list[dict[str, Any]]:
    response = api(w.server, "GET", f"/app/hook/deliveries{query}", bearer=app_jwt(w.app))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_receiver_that_takes_more_than_10_s_of_server_time_fails_and_is_not_retried(
    world: World, tmp_path: Path
):
    server = world.server
    calls: list[int] = []

    def slow(headers: dict[str, str], payload: dict[str, Any]) -> int:
        # The receiver does its work inside the request and calls GitHub back, which is slow.
        calls.append(api(server, "GET", "/repos/acme/cand-1", world.bot).status_code)
        return 202

    hooks = Receiver(slow)
    try:
        server.set_app_webhook(world.app.id, hooks.url, secret=SECRET, events=("push",))
        server.inject(kind="stall", method="GET", path=r"/repos/acme/cand-1$", seconds=11)
        work = world.clone(tmp_path)
        sha = commit(work, "answers.yaml", "q1: b\n")
        git("push", "-q", "origin", "HEAD:main", cwd=work)
        server.deliveries_wait()
        assert calls == [200]  # the receiver did answer, but too late

        [failed] = deliveries(world)
        assert failed["status"] == "timed out" and failed["status_code"] == 0
        assert failed["event"] == "push" and failed["redelivery"] is False
        assert failed["installation_id"] == world.app.installation_id
        assert 10 <= failed["duration"] <= 11

        # GitHub never retries by itself, however long one waits.
        server.advance_clock(24 * 3600)
        server.deliveries_wait()
        assert len(hooks.received) == 1 and len(deliveries(world)) == 1

        # Redelivery through the API: 202, then a new record with the same guid and body.
        redo = api(
            server,
            "POST",
            f"/app/hook/deliveries/{failed['id']}/attempts",
            bearer=app_jwt(world.app),
        )
        assert redo.status_code == 202
        server.deliveries_wait()
        again, first = deliveries(world)
        assert first["id"] == failed["id"] and first["status"] == "timed out"
        assert again["id"] != failed["id"] and again["guid"] == failed["guid"]
        assert again["redelivery"] is True and again["status"] == "OK"
        assert again["status_code"] == 202
        (h1, b1), (h2, b2) = hooks.received
        assert h1["X-GitHub-Delivery"] == h2["X-GitHub-Delivery"] == failed["guid"]
        assert b1 == b2 and json.loads(b2)["after"] == sha
        assert deliveries(world, "?redelivery=true") == [again]
        assert deliveries(world, "?redelivery=false") == [first]
    finally:
        hooks.close()


def test_a_receiver_too_slow_in_real_time_or_failing_is_recorded_as_failed(tmp_path: Path):
    answers = iter([500, None])

    def handler(headers: dict[str, str], payload: dict[str, Any]) -> int | None:
        status = next(answers, None)
        if status is None:
            time.sleep(0.4)  # longer than this server's hook_timeout, in real time
        return status

    hooks = Receiver(handler)
    try:
        with FakeGitHub(tmp_path / "gh", hook_timeout=0.2) as server:
            w = make_world(server)
            server.set_app_webhook(w.app.id, hooks.url, events=("push",))
            work = w.clone(tmp_path)
            commit(work, "a.txt", "a\n")
            git("push", "-q", "origin", "HEAD:main", cwd=work)
            commit(work, "b.txt", "b\n")
            git("push", "-q", "origin", "HEAD:main", cwd=work)
            server.deliveries_wait()
            late, refused = deliveries(w)
            assert refused["status"] == "Invalid HTTP Response: 500"
            assert refused["status_code"] == 500
            assert late["status"] == "timed out" and late["status_code"] == 0
            assert [d.ok for d in server.deliveries] == [False, False]
    finally:
        hooks.close()


def test_the_app_hook_hears_only_repositories_its_installations_reach(
    fake_github: FakeGitHub, receiver: Receiver, tmp_path: Path
):
    server = fake_github
    server.add_user("alice")
    cand = server.add_user("cand")
    server.add_org("acme", owners=("alice",))
    server.create_repo("acme", "in", files={"README.md": "in\n"})
    server.create_repo("acme", "out", files={"README.md": "out\n"})
    for name in ("in", "out"):
        server.add_collaborator("acme", name, "cand")
    app = server.add_app("mle-grader", "acme", repositories=["in"])
    hook_id = server.set_app_webhook(app.id, receiver.url, secret=SECRET)
    for name in ("in", "out"):
        work = tmp_path / name
        git("clone", "-q", server.clone_url("acme", name, cand), str(work))
        commit(work, "x.txt", name)
        git("push", "-q", "origin", "HEAD:main", cwd=work)
    server.deliveries_wait()
    [(headers, body)] = receiver.received
    payload = json.loads(body)
    assert payload["repository"]["full_name"] == "acme/in"
    assert payload["installation"]["id"] == app.installation_id
    assert headers["X-GitHub-Hook-ID"] == str(hook_id)
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == str(app.id)

    [item] = api(server, "GET", "/app/hook/deliveries", bearer=_jwt(app)).json()
    assert item["repository_id"] == payload["repository"]["id"]
    assert item["status"] == "OK" and item["status_code"] == 202 and item["action"] is None
    assert set(item) == {
        "id",
        "guid",
        "delivered_at",
        "redelivery",
        "duration",
        "status",
        "status_code",
        "event",
        "action",
        "installation_id",
        "repository_id",
        "throttled_at",
    }
    full = api(server, "GET", f"/app/hook/deliveries/{item['id']}", bearer=_jwt(app)).json()
    assert full["url"] == receiver.url
    assert full["request"]["headers"]["X-GitHub-Delivery"] == item["guid"]
    assert full["request"]["payload"] == payload
    assert full["response"]["payload"] == "ok"
    # The endpoints take the App's JWT, not an installation token.
    bot = server.installation_token(app.installation_id)
    assert api(server, "GET", "/app/hook/deliveries", bot).status_code == 401


def _jwt(app: AppCredentials) -> str:
    return app_jwt(app)


def test_hook_deliveries_page_by_cursor_and_are_kept_three_days(
    world: World, receiver: Receiver, tmp_path: Path
):
    server = world.server
    server.set_app_webhook(world.app.id, receiver.url, events=("push",))
    work = world.clone(tmp_path)
    for number in range(5):
        commit(work, f"f{number}.txt", f"{number}\n")
        git("push", "-q", "origin", "HEAD:main", cwd=work)
    server.deliveries_wait()
    everything = [d["id"] for d in deliveries(world)]
    assert len(everything) == 5 and everything == sorted(everything, reverse=True)
    seen: list[int] = []
    url: str | None = "/app/hook/deliveries?per_page=2"
    while url:
        response = api(server, "GET", url, bearer=app_jwt(world.app))
        seen += [d["id"] for d in response.json()]
        url = next_link(response)
        if url:
            assert "cursor=" in url and "per_page=2" in url
    assert seen == everything
    delivered = datetime.fromisoformat(deliveries(world)[-1]["delivered_at"].replace("Z", "+00:00"))
    assert abs((delivered - server.clock()).total_seconds()) < 30

    server.advance_clock(3 * 24 * 3600 + 60)
    assert deliveries(world) == []
    oldest = everything[-1]
    for method, path in (("GET", ""), ("POST", "/attempts")):
        gone = api(
            server, method, f"/app/hook/deliveries/{oldest}{path}", bearer=app_jwt(world.app)
        )
        assert gone.status_code == 404


def test_a_payload_over_25_mb_is_not_delivered(world: World, receiver: Receiver, tmp_path: Path):
    server = world.server
    server.add_webhook("acme", receiver.url, events=["push"])
    work = world.clone(tmp_path)
    message = tmp_path / "message.txt"
    message.write_text("x" * (13 * 1024 * 1024))  # twice in the payload: commits, head_commit
    (work / "big.txt").write_text("big\n")
    git("add", "big.txt", cwd=work)
    git("commit", "-q", "-F", str(message), cwd=work)
    git("push", "-q", server.file_url("acme", "cand-1"), "HEAD:main", cwd=work)
    assert server.notice_push("acme", "cand-1", "cand") == ["refs/heads/main"]
    small = commit(work, "small.txt", "small\n")
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    server.deliveries_wait()
    [(_, body)] = receiver.received  # only the small push was delivered
    assert json.loads(body)["after"] == small
    [(event, _, size)] = server.hooks.too_large
    assert event == "push" and size > 25 * 1024 * 1024
    assert len(server.events("acme", "cand-1")) == 2  # the push itself was recorded


# ----- rate limits --------------------------------------------------------------------------


def status_post(w: World, token: str, sha: str, n: int) -> requests.Response:
    return api(
        w.server,
        "POST",
        f"/repos/acme/cand-1/statuses/{sha}",
        token,
        json={"state": "success", "context": f"c{n}"},
    )


def statuses(w: World, sha: str) -> int:
    found = api(w.server, "GET", f"/repos/acme/cand-1/commits/{sha}/statuses?per_page=100", w.bot)
    return len(found.json())


@pytest.mark.parametrize(
    ("status", "retry_after"), [(403, False), (403, True), (429, False), (429, True)]
)
def test_content_creation_is_limited_to_80_a_minute(tmp_path: Path, status: int, retry_after: bool):
    options = {"write_limit_status": status, "write_limit_retry_after": retry_after}
    with FakeGitHub(tmp_path / "gh", **options) as server:
        w = make_world(server)
        sha = server.refs("acme", "cand-1")["refs/heads/main"]
        for n in range(80):
            assert status_post(w, w.cand, sha, n).status_code == 201
        refused = status_post(w, w.cand, sha, 80)
        assert refused.status_code == status
        assert refused.json()["message"].startswith("You have exceeded a secondary rate limit")
        assert refused.headers["X-RateLimit-Remaining"] != "0"  # not the primary limit
        if retry_after:
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
        else:
            assert "Retry-After" not in refused.headers
        assert statuses(w, sha) == 80  # the refused write changed nothing
        [record] = [r for r in server.requests if r.fault == "write_limit"]
        assert record.method == "POST" and record.status == status

        # The limit is per identity, and git pushes are not limited by it.
        assert status_post(w, w.alice, sha, 81).status_code == 201
        assert status_post(w, w.bot, sha, 82).status_code == 201
        work = w.clone(tmp_path)
        commit(work, "a.txt", "a\n")
        git("push", "-q", "origin", "HEAD:main", cwd=work)
        assert server.refs("acme", "cand-1")["refs/heads/main"] != sha

        # A minute of server time later the candidate may write again.
        server.advance_clock(61)
        assert status_post(w, w.cand, sha, 83).status_code == 201


def test_app_jwt_writes_are_not_content_creation(world: World):
    server = world.server
    path = f"/app/installations/{world.app.installation_id}/access_tokens"
    token = app_jwt(world.app)
    minted = [api(server, "POST", path, bearer=token).status_code for _ in range(90)]
    assert minted == [201] * 90


def test_content_creation_is_limited_to_500_an_hour(world: World):
    server = world.server
    sha = server.refs("acme", "cand-1")["refs/heads/main"]
    for minute in range(7):
        for n in range(min(80, 500 - minute * 80)):
            response = status_post(world, world.bot, sha, minute * 100 + n)
            assert response.status_code == 201, (minute, n)
        server.advance_clock(61)
    # 500 in the last 427 s: the hourly limit holds although the minute is fresh.
    assert status_post(world, world.bot, sha, 9999).status_code == 403
    server.advance_clock(3600 - 7 * 61 + 1)
    assert status_post(world, world.bot, sha, 10000).status_code == 201


def test_write_limits_off_for_a_test_that_floods_the_api_on_purpose(tmp_path: Path):
    with FakeGitHub(tmp_path / "gh", write_limits=False) as server:
        w = make_world(server)
        sha = server.refs("acme", "cand-1")["refs/heads/main"]
        assert all(status_post(w, w.bot, sha, n).status_code == 201 for n in range(90))


@pytest.mark.parametrize("status", [403, 429])
def test_primary_limit_faults_come_as_403_or_429_with_a_reset_on_the_server_clock(
    world: World, status: int
):
    server = world.server
    server.advance_clock(5 * 3600)
    server.inject(kind="rate_limit", path=r"/repos/acme/cand-1$", seconds=120, status=status)
    raw = api(server, "GET", "/repos/acme/cand-1", world.bot)
    assert raw.status_code == status
    assert raw.headers["X-RateLimit-Remaining"] == "0"
    assert abs(int(raw.headers["X-RateLimit-Reset"]) - (server.now() + 120)) < 3
    assert raw.json()["message"].startswith("API rate limit exceeded")


@pytest.mark.parametrize(("seconds", "status"), [(None, 403), (None, 429), (7, 403), (7, 429)])
def test_secondary_limit_faults_with_and_without_retry_after(
    world: World, seconds: int | None, status: int
):
    server = world.server
    server.inject(kind="secondary", path=r"/repos/acme/cand-1$", seconds=seconds, status=status)
    raw = api(server, "GET", "/repos/acme/cand-1", world.bot)
    assert raw.status_code == status
    assert raw.json()["message"].startswith("You have exceeded a secondary rate limit")
    if seconds is None:
        assert "Retry-After" not in raw.headers
    else:
        assert raw.headers["Retry-After"] == "7"
    assert api(server, "GET", "/repos/acme/cand-1", world.bot).status_code == 200
