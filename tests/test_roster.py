"""Rosters are checked whole before anything is created; sticky comments know their own text."""

import pytest

from mle_assess.errors import MleAssessError
from mle_assess.github.post import fit, sticky_body, untouched
from mle_assess.github.provision import Entry, read_roster


def write(tmp_path, text):
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_roster_reads_in_order(tmp_path):
    path = write(tmp_path, "name,github,email\nAda Lovelace,@ada-l,a@x\nAlan Turing,aturing,\n")
    assert read_roster(path) == [Entry("Ada Lovelace", "ada-l"), Entry("Alan Turing", "aturing")]


def test_every_problem_is_reported_by_line(tmp_path):
    path = write(
        tmp_path, "name,github\nAda,ada\n,bob\nEve,not a login\nAda again,ADA\nMal,-lead\n"
    )
    with pytest.raises(MleAssessError) as caught:
        read_roster(path)
    message = str(caught.value)
    assert "nothing was created" in message
    for line in ("line 3", "line 4", "line 5", "line 6"):
        assert line in message
    assert "line 2" not in message


@pytest.mark.parametrize("text", ["", "login,name\nx,y\n", "name,github\n"])
def test_missing_columns_or_rows_are_refused(tmp_path, text):
    with pytest.raises(MleAssessError):
        read_roster(write(tmp_path, text))


def test_sticky_digest_notices_any_edit():
    body = sticky_body("3 of 6 checks passed\n")
    assert untouched(body)
    assert not untouched(body.replace("3 of 6", "6 of 6"))
    assert not untouched("3 of 6 checks passed\n")


def test_long_text_is_cut_to_githubs_limit_and_says_so():
    text = fit("x" * 70000, 65535)
    assert len(text) <= 65535 and "cut to fit" in text
    assert fit("short", 65535) == "short"
