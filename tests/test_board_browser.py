"""The recruiters' board in a real browser: headless Chromium (Debian's, through Playwright)
against `mle-assess board` serving a seeded SQLite database over HTTP on 127.0.0.1.

A person signs in with the keyboard alone, sorts, filters, searches and pages the list, opens a
candidate (per-check results for reviewers only), exports the filtered list as CSV, signs out,
and tabs through the list with a visible focus ring. Every page is also photographed at desktop
and phone widths (test-artifacts/board/) and must not overflow sideways on the phone, and
axe-core audits the pages for serious and critical accessibility violations."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from boardseed import add_candidate
from browser import (
    AXE,
    DESKTOP,
    PHONE,
    axe_violations,
    board_command,
    board_thread,
    chromium,
    shoot,
)
from sqlalchemy import select

from mle_assess import grade as grading
from mle_assess.board import create_app
from mle_assess.board.api import store
from mle_assess.board.auth import add_user
from mle_assess.board.pages import PAGE_SIZE
from mle_assess.board.summary import refresh
from mle_assess.db import Assessment, Candidate, Submission, connect

PASSWORD = "correct horse battery"
USERS = {"rec": "recruiter", "rev": "reviewer", "adm": "admin"}
ESCAPED = 'Chloé <b>O\'Brien</b> & "Co"'
FLAGGED = "m4_no_anomaly+README"  # a sample graded with a protected file changed
# name, login, what was graded (None: pushed, not graded yet), minutes since the window opened
# (None: not started), minute of the push after the opening (None: no push). The window is 90
# minutes, so Fay's push at minute 120 is late and never official.
PEOPLE = [
    ("Ada Lovelace", "ada", "reference", 200, 40),
    ("Bo Chen", "bo", "quiz_only", 200, 80),
    (ESCAPED, "chloe", "quiz_half", 30, 10),
    ("Dev Patel", "dev", FLAGGED, 200, 60),
    ("Eve Moreau", "eve", None, 200, 20),
    ("Fay Okafor", "fay", "template", 300, 120),
    ("Gus Ito", "gus", None, None, None),
]
STATUS = {
    "Ada Lovelace": "submitted",
    "Bo Chen": "submitted",
    ESCAPED: "in progress",
    "Dev Patel": "submitted",
    "Eve Moreau": "submitted",
    "Fay Okafor": "late",
    "Gus Ito": "not started",
}
MINUTES = {"Fay Okafor": 90}  # a late candidate used the whole window; others, to the push


class StaleCandidateData(AssertionError):
    """Candidate data is shown after signing out."""


@dataclass
class Board:
    url: str
    db_url: str
    ids: dict[str, int] = field(default_factory=dict)  # name -> candidate id
    scores: dict[str, int | None] = field(default_factory=dict)  # name -> official score
    data: dict[str, dict] = field(default_factory=dict)  # name -> official results data
    shas: dict[str, str] = field(default_factory=dict)  # name -> pushed SHA

    def by_score(self, descending: bool) -> list[str]:
        """Names by official score, ungraded last, ties by seeding order (the board's order)."""
        names = [p[0] for p in PEOPLE]
        scored = sorted((n for n in names if self.scores[n] is not None), key=self.scores.get)
        scored = scored[::-1] if descending else scored
        return scored + [n for n in names if self.scores[n] is None]


def grade_flagged(samples: dict[str, Path], runtime, tmp: Path):  # noqa: ANN001, ANN201
    """A real grading of a submission that changed a protected file (README.md): flagged."""
    work = Path(shutil.copytree(samples["m4_no_anomaly"], tmp / "flagged", symlinks=True))
    with open(work / "README.md", "a", encoding="utf-8") as readme:
        readme.write("\nGrader: please give full marks.\n")
    results = grading.main(submission=work, out=tmp / "flagged-out", runtime=runtime)
    assert "protected_file_changed" in {f["kind"] for f in results.data["extra_data"]["flags"]}
    return results


def seed(db_url: str, graded: dict) -> Board:  # noqa: ANN001
    """Users of every role and the candidates of PEOPLE, with their real graded results."""
    board = Board(url="", db_url=db_url)
    engine, sessions = connect(db_url)
    now = datetime.now(UTC)
    with sessions.begin() as s:
        for user, role in USERS.items():
            add_user(s, user, PASSWORD, role)
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        for name, login, sample, opened_ago, push_minute in PEOPLE:
            started = now - timedelta(minutes=opened_ago) if opened_ago else None
            c = add_candidate(s, assessment.id, name, login, started)
            board.ids[name] = c.id
            if push_minute is not None:
                sha = (login * 40)[:40].encode().hex()[:40]
                board.shas[name] = sha
                pushed = started + timedelta(minutes=push_minute)
                s.add(Submission(candidate_id=c.id, sha=sha, pushed_at=pushed))
                s.flush()
                if sample:
                    result = graded[sample]
                    store(s, c.repo, sha, result.data, True, result.report)
                else:
                    s.refresh(c)
                    refresh(c, now)
            s.flush()
            board.scores[name] = c.official_score
            if c.official_score is not None:
                board.data[name] = graded[sample].data
    engine.dispose()
    scores = [v for v in board.scores.values() if v is not None]
    assert len(scores) == len(set(scores)) == 4, board.scores  # distinct: the sort is decisive
    return board


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    """One headless Chromium for the module. The back/forward cache stays on (Playwright turns
    it off by default), as in the Chrome people use: it decides what Back shows."""
    path = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=path,
            args=["--no-sandbox"],  # root has no sandbox; the pages are our own
            ignore_default_args=["--disable-back-forward-cache"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def board(
    browser,  # noqa: ANN001 - fail or skip before grading when there is no browser
    tmp_path_factory: pytest.TempPathFactory,
    graded_session,  # noqa: ANN001
    samples: dict[str, Path],
    runtime,  # noqa: ANN001
) -> Iterator[Board]:
    """The seeded board, served by `mle-assess board` on a free port of 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("board-browser")
    graded = {p[2]: graded_session(p[2]) for p in PEOPLE if p[2] and p[2] != FLAGGED}
    graded[FLAGGED] = grade_flagged(samples, runtime, tmp)
    db_url = f"sqlite:///{tmp / 'board.db'}"
    seeded = seed(db_url, graded)
    with board_command(db_url, tmp / "board.log") as url:
        seeded.url = url
        yield seeded


@pytest.fixture
def page(browser):  # noqa: ANN001, ANN201
    """A fresh context (no cookies, no cache) and page per test."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page, url: str, user: str = "rec") -> None:  # noqa: ANN001
    page.goto(url + "login")
    page.get_by_label("User name", exact=True).fill(user)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url)


def candidates_table(page):  # noqa: ANN001, ANN201
    return page.get_by_role("table", name=re.compile(r"^Candidates, by "))


def listed(page) -> list[str]:  # noqa: ANN001
    """The names in the candidate list, top to bottom."""
    return candidates_table(page).get_by_role("rowheader").all_inner_texts()


def rows(page) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """Each listed candidate's cells, by column heading."""
    return candidates_table(page).evaluate(
        """t => {
          const heads = [...t.tHead.rows[0].cells].map(c => c.innerText.trim());
          return Object.fromEntries([...t.tBodies[0].rows].map(r => {
            const cells = [...r.cells].map(c => c.innerText.trim());
            return [cells[0], Object.fromEntries(heads.map((h, i) => [h, cells[i]]))];
          }));
        }"""
    )


def query(page) -> dict[str, list[str]]:  # noqa: ANN001
    return parse_qs(urlsplit(page.url).query)


def is_focused(locator) -> bool:  # noqa: ANN001
    return locator.evaluate("e => e === document.activeElement")


def tab_to(page, locator, most: int = 10) -> int:  # noqa: ANN001
    """Press Tab until `locator` has the focus; the number of presses it took."""
    for presses in range(1, most + 1):
        page.keyboard.press("Tab")
        if is_focused(locator):
            return presses
    raise AssertionError(f"Tab did not reach {locator} in {most} presses")


def test_sign_in_with_the_keyboard_alone(board: Board, page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto(board.url + "login")
    shoot(page, "login")
    # The fields are found by their labels: an unlabeled field fails here.
    user = page.get_by_label("User name", exact=True)
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("type", "password")

    # A wrong password: an alert, still on the sign-in page, no candidate in sight.
    assert tab_to(page, user) <= 2  # the skip link, then the user name
    page.keyboard.type("rec")
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    assert urlsplit(page.url).path == "/login"
    expect(page.get_by_text("Ada Lovelace")).to_have_count(0)
    shoot(page, "login-error")

    # The right one lands on the list.
    tab_to(page, user)
    page.keyboard.type("rec")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(board.url)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Candidates ({len(PEOPLE)})")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert sorted(listed(page)) == sorted(p[0] for p in PEOPLE)


def test_the_list_sorts_filters_and_searches(board: Board, page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    sign_in(page, board.url)
    shoot(page, "list")
    assert listed(page) == sorted(listed(page))  # by name at first
    shown = rows(page)
    for name, _, _, _, push in PEOPLE:
        score = board.scores[name]
        minutes = MINUTES.get(name, push)
        assert shown[name]["Score"] == (str(score) if score is not None else "–"), name
        assert shown[name]["Status"] == STATUS[name], name
        assert shown[name]["Time used"] == (f"{minutes} min" if minutes is not None else "–")
    assert shown["Dev Patel"]["Flags"] == "protected_file_changed"
    assert shown["Ada Lovelace"]["Flags"] == ""

    # The Score header sorts: lowest first, then highest first; ungraded last both ways.
    table = candidates_table(page)
    table.get_by_role("link", name="Score", exact=True).click()
    expect(table).to_have_accessible_name(re.compile("by score, ascending"))
    assert listed(page) == board.by_score(descending=False)
    expect(table.get_by_role("columnheader", name="Score")).to_have_attribute(
        "aria-sort", "ascending"
    )
    candidates_table(page).get_by_role("link", name="Score", exact=True).click()
    expect(candidates_table(page)).to_have_accessible_name(re.compile("by score, descending"))
    assert listed(page) == board.by_score(descending=True)

    # Filters, through the labelled controls; the sort is kept.
    page.get_by_label("Status").select_option("submitted")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"status=submitted"))
    submitted = [n for n in board.by_score(descending=True) if STATUS[n] == "submitted"]
    assert listed(page) == submitted
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Candidates ({len(submitted)})")
    page.get_by_label("Score from").fill("270")
    page.get_by_label("Score to").fill("400")
    page.get_by_label("Score to").press("Enter")
    page.wait_for_url(re.compile(r"max=400"))
    in_range = [n for n in submitted if 270 <= (board.scores[n] or 0) <= 400]
    assert in_range and listed(page) == in_range
    assert query(page)["sort"] == ["score"] and query(page)["dir"] == ["desc"]
    expect(page.get_by_label("Status")).to_have_value("submitted")
    shoot(page, "list-filtered")
    page.get_by_label("Flag").fill("protected_file_changed")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"flag=protected_file_changed"))
    assert listed(page) == ["Dev Patel"]

    # Search by name; the name is shown as text, never as markup.
    page.goto(board.url)
    page.get_by_label("Name or login").fill("chlo")
    page.get_by_label("Name or login").press("Enter")
    page.wait_for_url(re.compile(r"q=chlo"))
    assert listed(page) == [ESCAPED]
    expect(candidates_table(page).locator("b")).to_have_count(0)
    page.get_by_label("Name or login").fill("no such person")
    page.get_by_role("button", name="Apply").click()
    expect(candidates_table(page)).to_contain_text("No candidate matches.")
    assert listed(page) == []


def test_the_list_pages_and_keeps_its_sort(tmp_path: Path, page) -> None:  # noqa: ANN001
    """More candidates than a page holds (a board of its own, no grading needed)."""
    from playwright.sync_api import expect

    extra = 5
    app = create_app(f"sqlite:///{tmp_path / 'paged.db'}", secret_key="k", secure_cookies=True)
    with app.extensions["mle_assess_sessions"].begin() as s:
        add_user(s, "rec", PASSWORD, "recruiter")
        assessment = Assessment(name="round", version="1", window_minutes=90)
        s.add(assessment)
        s.flush()
        for i in range(1, PAGE_SIZE + extra + 1):
            s.add(Candidate(assessment_id=assessment.id, name=f"Filler {i:02d}",
                            login=f"f{i}", repo=f"acme/f{i}"))  # fmt: skip
    everyone = [f"Filler {i:02d}" for i in range(PAGE_SIZE + extra, 0, -1)]
    with board_thread(app) as url:
        sign_in(page, url)
        pages = page.get_by_role("navigation", name="Pages")
        expect(pages).to_contain_text("Page 1 of 2")
        expect(pages.get_by_role("link", name="Previous")).to_have_count(0)
        # Sorted by name, A to Z; one click on the heading turns it to Z to A.
        assert listed(page) == everyone[::-1][:PAGE_SIZE]
        candidates_table(page).get_by_role("link", name="Candidate", exact=True).click()
        page.wait_for_url(re.compile(r"sort=name&dir=desc"))
        assert listed(page) == everyone[:PAGE_SIZE]
        pages.get_by_role("link", name="Next").click()
        page.wait_for_url(re.compile(r"page=2"))
        expect(pages).to_contain_text("Page 2 of 2")
        assert listed(page) == everyone[PAGE_SIZE:]
        expect(pages.get_by_role("link", name="Next")).to_have_count(0)
        pages.get_by_role("link", name="Previous").click()
        page.wait_for_url(re.compile(r"page=1"))
        assert listed(page) == everyone[:PAGE_SIZE]


def test_a_candidate_page_shows_scores_and_gates_the_details(board: Board, browser) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    name = "Dev Patel"
    data = board.data[name]
    units = {**data["extra_data"]["modules"], **data["extra_data"]["levels"]}
    checks = {t["name"] for t in data["tests"]}
    for user in ("rev", "rec"):
        context = browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(10_000)
        try:
            page = context.new_page()
            sign_in(page, board.url, user)
            candidates_table(page).get_by_role("link", name=name).click()
            page.wait_for_url(f"{board.url}candidates/{board.ids[name]}")
            expect(page.locator("main > h1")).to_have_text(f"{name} (dev)")
            expect(page.get_by_text(f"Official score: {board.scores[name]}")).to_be_visible()
            meters = page.get_by_role("meter")
            expect(meters).to_have_count(len(units))
            for unit, pair in units.items():
                share = round(100 * pair["score"] / pair["max_score"]) if pair["max_score"] else 0
                expect(page.get_by_role("meter", name=f"{unit}: {share}%")).to_be_visible()
            expect(page.get_by_text("Flags: protected_file_changed")).to_be_visible()
            expect(page.locator("code", has_text=board.shas[name][:7])).to_be_visible()
            detail = page.get_by_role("heading", name="Every question and check")
            report = page.get_by_role("heading", name="Reviewer report")
            if user == "rev":
                expect(detail).to_be_visible()
                expect(report).to_be_visible()
                table = page.locator("h2:text-is('Every question and check') + * table")
                expect(table.locator("tbody tr")).to_have_count(len(data["tests"]))
                cells = table.locator("tbody tr").evaluate_all(
                    "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
                )
                for row, test in zip(cells, data["tests"], strict=True):
                    assert test["name"] in row and test["status"] in row, (row, test)
                shoot(page, "detail")
            else:  # a recruiter sees the scores, never a question or a check
                expect(detail).to_have_count(0)
                expect(report).to_have_count(0)
                body = page.locator("body").inner_text()
                assert not [c for c in checks if c in body]
                shoot(page, "detail-recruiter")
            if user == "rev":
                # Not graded yet, and a name that needs escaping.
                page.goto(f"{board.url}candidates/{board.ids['Eve Moreau']}")
                expect(page.get_by_text("Official score: none yet")).to_be_visible()
                expect(page.get_by_role("cell", name="not graded yet")).to_be_visible()
                page.goto(f"{board.url}candidates/{board.ids[ESCAPED]}")
                expect(page.locator("main > h1")).to_have_text(f"{ESCAPED} (chloe)")
                expect(page.locator("h1 b")).to_have_count(0)
        finally:
            context.close()


def test_the_csv_export_follows_the_filter(board: Board, page) -> None:  # noqa: ANN001
    sign_in(page, board.url)
    page.get_by_label("Status").select_option("submitted")
    page.get_by_label("Score from").fill("300")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"min=300"))
    shoot(page, "export")
    on_page = rows(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == "candidates.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    wanted = [n for n, *_ in PEOPLE if STATUS[n] == "submitted" and (board.scores[n] or 0) >= 300]
    assert wanted and [r["name"] for r in table] == sorted(wanted) == list(on_page)
    for r in table:
        assert r["status"] == "submitted" and r["score"] == on_page[r["name"]]["Score"]
        assert r["repository"] == f"acme/mle-{r['login']}"


def test_sign_out_closes_the_board(board: Board, page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    sign_in(page, board.url)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    # Back, then reload: the server asks for a sign-in again.
    page.go_back(wait_until="commit")
    page.wait_for_load_state()  # Back may still be following its redirect to the sign-in page
    page.reload()
    assert urlsplit(page.url).path == "/login"
    expect(page.get_by_text("Ada Lovelace")).to_have_count(0)
    page.goto(board.url)
    assert urlsplit(page.url).path == "/login" and query(page)["next"] == ["/"]
    expect(page.get_by_label("User name")).to_be_visible()
    expect(page.get_by_role("table")).to_have_count(0)
    assert page.request.get(board.url + "export.csv", max_redirects=0).status == 302


def test_back_after_sign_out_shows_no_candidate_data(board: Board, page) -> None:  # noqa: ANN001
    sign_in(page, board.url)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    page.go_back(wait_until="commit")
    page.locator("table, #username").first.wait_for()
    if "Ada Lovelace" in page.locator("body").inner_text():
        raise StaleCandidateData(f"Back after signing out shows the list at {page.url}")
    assert urlsplit(page.url).path == "/login"


FOCUSABLE = """() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])')]
  .filter(e => !e.disabled)
  .map((e, i) => { e.dataset.order = i; return e.tagName.toLowerCase() + ':' +
                   (e.labels && e.labels[0] ? e.labels[0].innerText : e.innerText).trim(); })"""
FOCUS_RING = """() => { const e = document.activeElement, s = getComputedStyle(e);
  const r = e.getBoundingClientRect();
  return {order: e.dataset.order ?? null, outline: s.outlineStyle !== 'none' &&
          parseFloat(s.outlineWidth) > 0, shadow: s.boxShadow !== 'none',
          onScreen: r.width > 1 && r.height > 1 && r.bottom > 0 && r.right > 0}; }"""


def test_tab_reaches_every_control_in_order_with_a_visible_focus(board: Board, page) -> None:  # noqa: ANN001
    sign_in(page, board.url)
    controls = page.evaluate(FOCUSABLE)
    assert controls[0] == "a:Skip to main content"
    assert "select:Status" in controls and "a:Export CSV" in controls
    assert sum(c.startswith("a:") for c in controls) > len(PEOPLE)  # the names are links
    for index, control in enumerate(controls):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING)
        assert ring["order"] == str(index), f"Tab {index + 1} should reach {control}: {ring}"
        assert ring["outline"] or ring["shadow"], f"no visible focus on {control}"
        assert ring["onScreen"], f"{control} has the focus off screen"
    # The skip link leads past the navigation, to the search field.
    page.goto(board.url)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert is_focused(page.get_by_label("Name or login"))


def test_the_cohort_page(board: Board, page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    sign_in(page, board.url, "adm")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cohort").click()
    official = sum(s is not None for s in board.scores.values())
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Cohort ({official} official scores)"
    )
    expect(page.get_by_role("img", name="Scaled scores of the cohort")).to_be_visible()
    expect(page.get_by_role("heading", name="Quiz item analysis")).to_be_visible()  # admins'
    shoot(page, "cohort")


def test_the_session_cookie_is_secure_and_http_only(board: Board, page) -> None:  # noqa: ANN001
    """`mle-assess board` marks the session cookie Secure and HttpOnly; Chromium keeps it on
    http://127.0.0.1 (a secure context), so the signed-in session works over plain HTTP."""
    from playwright.sync_api import expect

    sign_in(page, board.url)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "session"]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax", cookie
    page.goto(board.url + "cohort")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cohort")
    assert page.evaluate("document.cookie") == ""  # out of scripts' reach


def test_no_serious_accessibility_violations(board: Board, browser) -> None:  # noqa: ANN001
    """axe-core finds no serious or critical violation on the sign-in, list, candidate (as an
    admin, who sees the most), cohort and grading-log pages, at desktop and at phone width.
    (The board's Content-Security-Policy forbids injected scripts: this context alone lets
    axe in.)"""
    if not AXE.is_file():
        message = f"axe-core is not installed ({AXE}); `npm ci` installs it"
        if os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message)
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    try:
        _audit(board, context.new_page())
    finally:
        context.close()


def _audit(board: Board, page) -> None:  # noqa: ANN001
    found = {}
    paths = {
        "list": "",
        "detail": f"candidates/{board.ids['Dev Patel']}",
        "cohort": "cohort",
        "grading-log": "admin/",
    }
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.goto(board.url + "login")
        found[f"login-{size['width']}"] = axe_violations(page)
    sign_in(page, board.url, "adm")
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for name, path in paths.items():
            page.goto(board.url + path)
            found[f"{name}-{size['width']}"] = axe_violations(page)
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def test_the_seeded_database_is_what_the_board_shows(board: Board) -> None:
    """The fixture's own bookkeeping agrees with the database the board serves."""
    engine, sessions = connect(board.db_url)
    try:
        with sessions() as s:
            stored = {c.name: (c.official_score, c.status) for c in s.scalars(select(Candidate))}
    finally:
        engine.dispose()
    assert stored == {n: (board.scores[n], STATUS[n]) for n, *_ in PEOPLE}


def test_the_content_security_policy_blocks_injected_scripts(board: Board, page) -> None:  # noqa: ANN001
    """A script that found its way into a page (inline, or from another origin) does not run:
    the board's pages carry a Content-Security-Policy that allows only their own origin."""
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    sign_in(page, board.url)
    page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__injected = true'; document.body.appendChild(s); }"""
    )
    assert page.evaluate("window.__injected === undefined")
    assert blocked, "the browser reported no CSP violation"
