"""The board keeps out everyone who does not belong: every route needs an account (the URL map
is enumerated, so a new route cannot slip through), forms need CSRF tokens, logins are
throttled, and the results API needs its bearer token and a valid, bounded body. Refused
requests store nothing."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from mle_assess.board import PUBLIC_ENDPOINTS, create_app
from mle_assess.board.api import new_token
from mle_assess.board.auth import MAX_FAILURES, add_user
from mle_assess.db import Assessment, Candidate, Result, Submission

PASSWORD = "correct horse battery"
REPO = "acme/mle-alice"


@pytest.fixture
def board(db_url):
    app = create_app(db_url, secret_key="test-secret")
    sessions = app.extensions["mle_assess_sessions"]
    with sessions.begin() as s:
        for role in ("recruiter", "reviewer", "admin"):
            add_user(s, role, PASSWORD, role)
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        s.add(Candidate(assessment_id=assessment.id, name="Alice", login="alice", repo=REPO))
        token = new_token(s, "workflow")
    return app, sessions, token


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


HTTPS = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/"}}


def sign_in(client, user="recruiter", password=PASSWORD, path="/login"):
    page = client.get("/login", **HTTPS)
    return client.post(
        path,
        data={"username": user, "password": password, "csrf_token": csrf_of(page.text)},
        **HTTPS,
    )


def count(sessions, model):
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_every_route_but_the_stated_exceptions_needs_an_account(board):
    app, _, _ = board
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(url, method=method)
            assert response.status_code in (302, 400, 401, 403), (method, url)
            if response.status_code == 302:
                assert "/login" in response.headers["Location"], (method, url)
            checked += 1
    assert checked >= 3  # the list, a candidate, sign-out at least


def test_sign_in_lists_candidates_and_signs_out(board):
    app, _, _ = board
    client = app.test_client()
    assert sign_in(client).status_code == 302
    page = client.get("/", **HTTPS)
    assert page.status_code == 200 and "Alice" in page.text
    # Kept by no browser cache or proxy: Back after sign-out cannot show the list.
    assert page.headers["Cache-Control"] == "no-store"
    assert client.get("/export.csv", **HTTPS).headers["Cache-Control"] == "no-store"
    out = client.post("/logout", data={"csrf_token": csrf_of(page.text)}, **HTTPS)
    assert out.status_code == 302
    assert client.get("/", **HTTPS).status_code == 302


def test_the_session_cookie_is_secure_and_http_only(board):
    app, _, _ = board
    response = sign_in(app.test_client())
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_form_without_its_csrf_token_is_refused(board):
    app, _, _ = board
    client = app.test_client()
    client.get("/login", **HTTPS)
    response = client.post("/login", data={"username": "recruiter", "password": PASSWORD}, **HTTPS)
    assert response.status_code == 400
    assert client.get("/", **HTTPS).status_code == 302


def test_wrong_passwords_are_throttled(board):
    app, _, _ = board
    client = app.test_client()
    for _ in range(MAX_FAILURES):
        assert sign_in(client, password="wrong password!").status_code == 401
    assert sign_in(client).status_code == 429  # even the right password, for a while


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/%5Cevil.example",
        "/%5C%5Cevil.example",
        "/%09/evil.example",
        "https://evil.example/",
        "/%0A/evil.example",
        "javascript:alert(1)",
    ],
)
def test_a_redirect_after_sign_in_stays_on_the_board(board, target):
    app, _, _ = board
    client = app.test_client()
    response = sign_in(client, "admin", path=f"/login?next={target}")
    assert response.headers["Location"] == "/"


def test_a_redirect_after_sign_in_goes_back_to_the_page_asked_for(board):
    app, _, _ = board
    response = sign_in(app.test_client(), "admin", path="/login?next=/cohort%3Fx%3D1")
    assert response.headers["Location"] == "/cohort?x=1"


@pytest.mark.parametrize(
    "query", ["' OR 1=1 --", "%", "_", "\\", "alice'; DROP TABLE candidates; --", "%\x00"]
)
def test_search_strings_are_data_not_sql(board, query):
    app, sessions, _ = board
    client = app.test_client()
    sign_in(client)
    page = client.get("/", query_string={"q": query}, **HTTPS)
    assert page.status_code == 200 and "Alice" not in page.text.split("<tbody>")[1]
    assert count(sessions, Candidate) == 1


def results_body(graded_session, sha="a" * 40, repo=REPO):
    return {"repo": repo, "sha": sha, "results": graded_session("template").data}


def test_results_need_the_bearer_token(board, graded_session):
    app, sessions, token = board
    client = app.test_client()
    body = results_body(graded_session)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        assert client.post("/api/results", json=body, headers=headers).status_code == 401
    assert count(sessions, Result) == 0 and count(sessions, Submission) == 0
    ok = client.post("/api/results", json=body, headers={"Authorization": f"Bearer {token}"})
    again = client.post("/api/results", json=body, headers={"Authorization": f"Bearer {token}"})
    assert (ok.status_code, again.status_code) == (201, 200)
    assert count(sessions, Result) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        json.dumps({"repo": REPO, "sha": "a" * 40, "results": {"score": 1}}).encode(),
        json.dumps({"repo": REPO, "sha": "short", "results": {}}).encode(),
        b"[" * 100_000,
        b" " * (3 * 1024 * 1024),
    ],
)
def test_malformed_or_oversized_results_are_refused_with_nothing_stored(board, body):
    app, sessions, token = board
    response = app.test_client().post(
        "/api/results",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 413)
    assert count(sessions, Result) == 0 and count(sessions, Submission) == 0


def test_tokens_are_stored_as_digests_only(board):
    app, sessions, token = board
    from mle_assess.db import ApiToken

    with sessions() as s:
        (stored,) = s.scalars(select(ApiToken)).all()
        assert token not in stored.token_digest and len(stored.token_digest) == 64


def bearer(token):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_a_nul_in_a_user_name_is_a_wrong_sign_in_on_every_database(board):
    # PostgreSQL's text cannot hold NUL; a sign-in with one is just a failed sign-in.
    app, _, _ = board
    assert sign_in(app.test_client(), user="recruiter\x00").status_code == 401


def test_nul_characters_in_a_report_are_dropped_on_every_database(board, graded_session):
    app, sessions, token = board
    body = results_body(graded_session)
    body["report"] = "# Report\x00 with a NUL"
    body["results"] = json.loads(json.dumps(body["results"]))
    body["results"]["extra_data"]["flags"].append({"kind": "timeout", "detail": "a\x00b"})
    response = app.test_client().post("/api/results", json=body, headers=bearer(token))
    assert response.status_code == 201
    with sessions() as s:
        (stored,) = s.scalars(select(Result)).all()
        assert stored.report == "# Report with a NUL"
        # The results JSON keeps it (escaped as \u0000 in JSON, which both databases store).
        assert {"kind": "timeout", "detail": "a\x00b"} in stored.data["extra_data"]["flags"]


@pytest.mark.parametrize(
    "change",
    [
        lambda body: body.update(repo=REPO + "\x00"),  # not text PostgreSQL can hold
        lambda body: body["results"]["extra_data"].update(grader_commit="f" * 200),  # too long
        lambda body: body["results"].update(score=float("nan")),  # not JSON; NULL on SQLite
        lambda body: body["results"].update(score=float("inf")),
    ],
    ids=["nul-in-repo", "long-grader-version", "nan-score", "infinite-score"],
)
def test_results_a_database_cannot_hold_are_refused_with_nothing_stored(
    board, graded_session, change
):
    app, sessions, token = board
    body = results_body(graded_session)
    body["results"] = json.loads(json.dumps(body["results"]))
    change(body)
    response = app.test_client().post(
        "/api/results", data=json.dumps(body).encode(), headers=bearer(token)
    )
    assert response.status_code == 400
    assert count(sessions, Result) == 0 and count(sessions, Submission) == 0
