"""The candidate list sorts, filters and exports in the database, from each candidate's
official result (the last push inside the window, by trusted time)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from boardseed import add_candidate

from mle_assess.board import create_app
from mle_assess.board.api import store
from mle_assess.board.auth import add_user
from mle_assess.db import Assessment, Candidate, Submission

PASSWORD = "correct horse battery"
HTTPS = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/"}}
NOW = datetime.now(UTC)


@pytest.fixture
def client(db_url, graded_session):
    app = create_app(db_url, secret_key="k")
    sessions = app.extensions["mle_assess_sessions"]
    people = [
        # name, login, sample graded, minutes since the window opened, push minute
        ("Ada", "ada", "reference", 200, 40),
        ("Bo", "bo", "quiz_only", 200, 80),
        ("=HYPERLINK(1)", "cy", "template", 30, 10),
        ("Di", "di", None, None, None),
    ]
    with sessions.begin() as s:
        add_user(s, "rec", PASSWORD, "recruiter")
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        for name, login, sample, opened_ago, push_minute in people:
            started = NOW - timedelta(minutes=opened_ago) if opened_ago else None
            c = add_candidate(s, assessment.id, name, login, started)
            if sample:
                sha = (login[0] * 40)[:40]
                s.add(
                    Submission(
                        candidate_id=c.id,
                        sha=sha,
                        pushed_at=started + timedelta(minutes=push_minute),
                    )
                )
                s.flush()
                store(s, c.repo, sha, graded_session(sample).data, True)
    test_client = app.test_client()
    page = test_client.get("/login", **HTTPS)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    test_client.post(
        "/login", data={"username": "rec", "password": PASSWORD, "csrf_token": token}, **HTTPS
    )
    return test_client


def names(page) -> list[str]:
    body = page.text.split("<tbody>")[1]
    return re.findall(r'/candidates/\d+">([^<]+)</a>', body)


def test_sorted_by_score_highest_first_with_ungraded_last(client):
    page = client.get("/", query_string={"sort": "score", "dir": "desc"}, **HTTPS)
    assert names(page) == ["Ada", "Bo", "=HYPERLINK(1)", "Di"]
    assert 'aria-sort="descending"' in page.text


def test_filters_by_status_flag_and_score_range(client):
    assert names(client.get("/", query_string={"status": "in progress"}, **HTTPS)) == [
        "=HYPERLINK(1)"
    ]
    assert names(client.get("/", query_string={"status": "not started"}, **HTTPS)) == ["Di"]
    assert names(client.get("/", query_string={"min": 300, "max": 400}, **HTTPS)) == ["Bo"]
    assert names(client.get("/", query_string={"flag": "timeout"}, **HTTPS)) == []


def test_time_used_runs_to_the_official_push(client):
    page = client.get("/", query_string={"sort": "time"}, **HTTPS)
    assert names(page)[:3] == ["=HYPERLINK(1)", "Ada", "Bo"]
    assert "40 min" in page.text and "80 min" in page.text


def test_csv_export_follows_the_filters_and_defuses_formulas(client):
    response = client.get("/export.csv", query_string={"sort": "score", "dir": "desc"}, **HTTPS)
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["name", "login", "repository", "score"]
    assert [r[0] for r in rows[1:]] == ["Ada", "Bo", "'=HYPERLINK(1)", "Di"]
    assert rows[1][3] == "600" and rows[4][3] == ""
    only = client.get("/export.csv", query_string={"status": "not started"}, **HTTPS)
    assert [r[0] for r in csv.reader(io.StringIO(only.text))][1:] == ["Di"]


@pytest.mark.parametrize("sort", ["score; DROP TABLE candidates", "id", ""])
def test_unknown_sorts_fall_back_to_the_name(client, sort):
    page = client.get("/", query_string={"sort": sort}, **HTTPS)
    assert page.status_code == 200 and names(page) == sorted(names(page))


def test_the_cohort_page_shows_the_histogram_and_percentiles(client):
    page = client.get("/cohort", **HTTPS)
    assert page.status_code == 200
    assert "Cohort (3 official scores)" in page.text
    assert "<svg" in page.text and "Scaled scores of the cohort" in page.text
    assert "Quiz item analysis" not in page.text  # item statistics are the admins'
    assert '<th scope="col">50th</th>' in page.text


@pytest.mark.parametrize(("role", "detailed"), [("recruiter", False), ("reviewer", True)])
def test_per_check_results_are_for_reviewers(db_url, graded_session, role, detailed):
    app = create_app(db_url, secret_key="k")
    sessions = app.extensions["mle_assess_sessions"]
    started = NOW - timedelta(minutes=200)
    with sessions.begin() as s:
        add_user(s, "u", PASSWORD, role)
        a = Assessment(name="r", version="1", window_minutes=90)
        s.add(a)
        s.flush()
        c = add_candidate(s, a.id, "Ada", "ada", started)
        s.add(Submission(candidate_id=c.id, sha="a" * 40, pushed_at=started))
        s.flush()
        store(s, c.repo, "a" * 40, graded_session("reference").data, True, "REVIEWER <REPORT>")
        cid = c.id
    client = app.test_client()
    page = client.get("/login", **HTTPS)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": "u", "password": PASSWORD, "csrf_token": token},
                **HTTPS)  # fmt: skip
    detail = client.get(f"/candidates/{cid}", **HTTPS).text
    assert "module3.level2" in detail and "37 of 37" in detail  # every role sees the scores
    assert ("Every question and check" in detail) is detailed
    assert ("module1.q3" in detail) is detailed
    assert ("REVIEWER &lt;REPORT&gt;" in detail) is detailed  # escaped, for reviewers only
    assert "<REPORT>" not in detail
    cohort = client.get("/cohort", **HTTPS).text
    assert "Quiz item analysis" not in cohort  # admins only


def test_ingest_stores_a_result_once(tmp_path, db_url, graded_session):
    import json

    from click.testing import CliRunner
    from sqlalchemy import select

    from mle_assess.cli import main
    from mle_assess.db import Result, connect

    url = db_url
    _, sessions = connect(url)
    with sessions.begin() as s:
        a = Assessment(name="r", version="1", window_minutes=90)
        s.add(a)
        s.flush()
        s.add(Candidate(assessment_id=a.id, name="Ada", login="ada", repo="acme/mle-ada"))
    path = tmp_path / "results.json"
    path.write_text(json.dumps(graded_session("template").data))
    args = ["ingest", str(path), "--repo", "acme/mle-ada", "--sha", "a" * 40, "--db", url]
    first, second = CliRunner().invoke(main, args), CliRunner().invoke(main, args)
    assert first.exit_code == 0 and "stored" in first.output
    assert second.exit_code == 0 and "already stored" in second.output
    unknown = CliRunner().invoke(main, [*args[:3], "acme/nobody", *args[4:]])
    assert unknown.exit_code == 1 and "not a candidate repository" in unknown.output
    with sessions() as s:
        assert len(s.scalars(select(Result)).all()) == 1


@pytest.fixture
def named(db_url):
    """A board whose candidates' names differ in case, accents and LIKE's wildcards."""
    app = create_app(db_url, secret_key="k")
    sessions = app.extensions["mle_assess_sessions"]
    people = ["alice", "Bob", "Zed", "Ölaf", "émile", "=sum", "50%_off", "a_b", "axb", "A\\B"]
    with sessions.begin() as s:
        add_user(s, "rec", PASSWORD, "recruiter")
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        for number, name in enumerate(people):
            s.add(
                Candidate(
                    assessment_id=assessment.id,
                    name=name,
                    login=f"user{number}",
                    repo=f"acme/mle-user{number}",
                    flags="rejected_file timeout" if name == "Bob" else "",
                )
            )
    client = app.test_client()
    page = client.get("/login", **HTTPS)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post(
        "/login", data={"username": "rec", "password": PASSWORD, "csrf_token": token}, **HTTPS
    )
    return client, people


def test_names_sort_by_code_point_on_every_database(named):
    client, people = named
    import html

    def shown(**query):
        return [html.unescape(n) for n in names(client.get("/", query_string=query, **HTTPS))]

    # Code point order (upper case before lower case), whatever the database's collation.
    assert shown() == sorted(people)
    assert shown(sort="name", dir="desc") == sorted(people, reverse=True)


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("ALICE", ["alice"]),
        ("bOb", ["Bob"]),
        ("ölaf", ["Ölaf"]),  # case folding beyond ASCII
        ("ÉMILE", ["émile"]),
        ("%_", ["50%_off"]),  # % and _ are matched literally
        ("a_b", ["a_b"]),
        ("_", ["50%_off", "a_b"]),
        ("%", ["50%_off"]),
        ("\\", ["A\\B"]),
        ("a\\b", ["A\\B"]),
        ("USER1", ["Bob"]),  # the login too
    ],
)
def test_search_is_case_insensitive_and_literal_on_every_database(named, query, found):
    client, _ = named
    import html

    page = client.get("/", query_string={"q": query}, **HTTPS)
    assert sorted(html.unescape(n) for n in names(page)) == sorted(found)


def test_ungraded_candidates_sort_last_in_both_directions(client):
    up = client.get("/", query_string={"sort": "score", "dir": "asc"}, **HTTPS)
    assert names(up) == ["=HYPERLINK(1)", "Bo", "Ada", "Di"]
    down = client.get("/", query_string={"sort": "time", "dir": "desc"}, **HTTPS)
    assert names(down) == ["Bo", "Ada", "=HYPERLINK(1)", "Di"]


@pytest.mark.parametrize(
    ("flag", "found"),
    [
        ("timeout", ["Bob"]),
        ("TIMEOUT", ["Bob"]),
        ("rejected_file", ["Bob"]),
        ("time_ut", []),  # `_` is a character, not LIKE's any-character wildcard
        ("rejected", []),  # whole kinds only
    ],
)
def test_flag_filter_is_literal_and_ignores_case(named, flag, found):
    client, _ = named
    assert names(client.get("/", query_string={"flag": flag}, **HTTPS)) == found


def test_out_of_range_numbers_in_the_address_are_not_errors(client):
    assert client.get("/candidates/99999999999999999999", **HTTPS).status_code == 404
    assert client.get("/candidates/2147483648", **HTTPS).status_code == 404
    far = client.get("/", query_string={"page": str(10**20)}, **HTTPS)
    assert far.status_code == 200 and names(far) == []
