"""The admins' pages: the grading log and a result's full record are for admins only, and so
are window extensions; a recruiter or a reviewer is refused with nothing changed. Links go to
the feedback pull request by number, on github.com or a GitHub Enterprise Server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from boardseed import add_candidate
from sqlalchemy import select

from mle_assess.board import create_app
from mle_assess.board.api import store
from mle_assess.board.auth import add_user
from mle_assess.db import Assessment, Candidate, GradingRequest, Submission, WebhookDelivery
from mle_assess.github.gateway import web_url

PASSWORD = "correct horse battery"
HTTPS = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/"}}
REPO = "acme/mle-alice"
SHA = "c" * 40


@pytest.fixture
def board(db_url, graded_session):
    app = create_app(db_url, secret_key="k", github_web="https://ghe.example.test")
    sessions = app.extensions["mle_assess_sessions"]
    started = datetime.now(UTC) - timedelta(minutes=30)
    with sessions.begin() as s:
        for role in ("recruiter", "reviewer", "admin"):
            add_user(s, role, PASSWORD, role)
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        alice = add_candidate(
            s, assessment.id, "Alice", "alice", started, repo=REPO, feedback_pull=7
        )
        s.add(Submission(candidate_id=alice.id, sha=SHA, pushed_at=started + timedelta(minutes=9)))
        s.add(GradingRequest(candidate_id=alice.id, sha=SHA, pushed_at=started, state="dispatched"))
        s.add(WebhookDelivery(delivery_id="d-42", event="push", outcome="dispatched"))
        s.flush()
        store(s, REPO, SHA, graded_session("quiz_only").data, True, report="# Report\nall fine")
    return app, sessions


def signed_in(app, role):
    client = app.test_client()
    page = client.get("/login", **HTTPS)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = client.post(
        "/login", data={"username": role, "password": PASSWORD, "csrf_token": token}, **HTTPS
    )
    assert done.status_code == 302
    return client, token


def csrf(client, path):
    page = client.get(path, **HTTPS)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def alice(sessions):
    with sessions() as s:
        return s.scalar(select(Candidate).where(Candidate.repo == REPO))


def test_the_grading_log_is_for_admins(board):
    app, sessions = board
    admin, _ = signed_in(app, "admin")
    page = admin.get("/admin/", **HTTPS)
    assert page.status_code == 200
    assert SHA[:7] in page.text and "dispatched" in page.text and "d-42" in page.text
    (result_id,) = re.findall(r'/admin/results/(\d+)"', page.text)
    record = admin.get(f"/admin/results/{result_id}", **HTTPS)
    assert record.status_code == 200
    assert "&#34;scaled_score&#34;" in record.text or '"scaled_score"' in record.text
    assert "all fine" in record.text
    for missing in (999999, 2**31, 10**20):
        assert admin.get(f"/admin/results/{missing}", **HTTPS).status_code == 404
        token = csrf(admin, "/")
        extend = admin.post(
            f"/admin/candidates/{missing}/extend",
            data={"minutes": "5", "csrf_token": token},
            **HTTPS,
        )
        assert extend.status_code == 404
    for role in ("recruiter", "reviewer"):
        client, _ = signed_in(app, role)
        assert client.get("/admin/", **HTTPS).status_code == 403
        assert client.get(f"/admin/results/{result_id}", **HTTPS).status_code == 403
        assert "Grading log" not in client.get("/", **HTTPS).text


@pytest.mark.parametrize("role", ["recruiter", "reviewer"])
def test_a_wrong_role_cannot_extend_a_window(board, role):
    app, sessions = board
    before = alice(sessions)
    client, _ = signed_in(app, role)
    token = csrf(client, f"/candidates/{before.id}")
    refused = client.post(
        f"/admin/candidates/{before.id}/extend",
        data={"minutes": "30", "csrf_token": token},
        **HTTPS,
    )
    assert refused.status_code == 403
    after = alice(sessions)
    assert (after.extension_minutes, after.deadline) == (0, before.deadline)


def test_an_admin_extends_a_window_with_a_csrf_token_only(board):
    app, sessions = board
    before = alice(sessions)
    admin, _ = signed_in(app, "admin")
    url = f"/admin/candidates/{before.id}/extend"
    assert admin.post(url, data={"minutes": "30"}, **HTTPS).status_code == 400
    assert alice(sessions).extension_minutes == 0
    token = csrf(admin, f"/candidates/{before.id}")
    for bad in ("0", "-5", "abc", "100000"):
        admin.post(url, data={"minutes": bad, "csrf_token": token}, **HTTPS)
        assert alice(sessions).extension_minutes == 0, bad
    done = admin.post(url, data={"minutes": "30", "csrf_token": token}, **HTTPS)
    assert done.status_code == 302
    after = alice(sessions)
    assert after.extension_minutes == 30
    assert after.deadline.replace(tzinfo=UTC) - before.deadline.replace(tzinfo=UTC) == timedelta(
        minutes=30
    )
    page = admin.get(f"/candidates/{before.id}", **HTTPS)
    assert "Extended by 30 minutes (30 in all)." in page.text
    assert " of 120 min" in page.text


def test_links_go_to_the_feedback_pull_request_on_the_configured_host(board):
    app, sessions = board
    client, _ = signed_in(app, "recruiter")
    page = client.get(f"/candidates/{alice(sessions).id}", **HTTPS)
    assert 'href="https://ghe.example.test/acme/mle-alice/pull/7"' in page.text
    assert 'href="https://ghe.example.test/acme/mle-alice"' in page.text
    assert "Extend" not in page.text  # the form is the admins'


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "https://github.com"),
        ({"MLE_ASSESS_GITHUB_API": "https://api.github.com/"}, "https://github.com"),
        ({"MLE_ASSESS_GITHUB_API": "https://ghe.corp.test/api/v3"}, "https://ghe.corp.test"),
        ({"MLE_ASSESS_GITHUB_API": "https://api.acme.ghe.com"}, "https://acme.ghe.com"),
        ({"MLE_ASSESS_GITHUB_WEB": "https://git.corp.test/"}, "https://git.corp.test"),
    ],
)
def test_the_web_address_follows_the_api_address(env, expected):
    assert web_url(env) == expected


def test_the_reviewer_report_is_rendered_with_its_html_escaped(db_url, graded_session):
    """The report is Markdown made by the grader, but candidate text reaches its cells: raw
    HTML stays text, and a javascript: link is not made."""
    app = create_app(db_url, secret_key="k")
    sessions = app.extensions["mle_assess_sessions"]
    report = (
        "# Grading report\n\n| question | answer |\n| --- | --- |\n"
        "| module1.q1 | <script>alert(1)</script> |\n| module1.q2 | [x](javascript:alert(2)) |\n"
        "| module1.q3 | ![](https://tracker.example/p.png) |\n"
        "| module1.q4 | [Sign in again](https://phish.example/) |\n"
    )
    with sessions.begin() as s:
        add_user(s, "reviewer", PASSWORD, "reviewer")
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        started = datetime.now(UTC) - timedelta(minutes=10)
        c = add_candidate(s, assessment.id, "Bo", "bo", started)
        s.add(Submission(candidate_id=c.id, sha=SHA, pushed_at=started + timedelta(minutes=1)))
        s.flush()
        store(s, "acme/mle-bo", SHA, graded_session("template").data, True, report=report)
        candidate_id = c.id
    client, _ = signed_in(app, "reviewer")
    page = client.get(f"/candidates/{candidate_id}", **HTTPS).text
    assert (
        "<h3>Grading report</h3>" in page
        and page.count("<h1") == 1
        and "<td>module1.q1</td>" in page
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert 'href="javascript:' not in page
    assert "<img" not in page and 'href="https://phish.example' not in page
    assert "[Sign in again](https://phish.example/)" in page  # shown as the text it is
