"""Quiz parsing and scoring: the base loader, each question type, and malformed files."""

from fractions import Fraction

import pytest

from hidden_tests import load_keys
from scoring.quiz import QuestionKey, grade_question, key_from_mapping, parse_answers

QIDS = list(load_keys())
LIMIT = 64 * 1024

SELECT = QuestionKey("module1.q1", "select_all", options=tuple("abcdef"), correct=("a", "c"))
SINGLE = QuestionKey("module1.q2", "single", options=tuple("abcde"), correct=("b",))
NUMBER = QuestionKey("module2.q2", "number", answer=Fraction("0.6"), tolerance=Fraction("0.005"))
TEXT = QuestionKey("module1.q4", "text", accepted=("covariate shift", "data drift"))


def test_keys_cover_five_questions_per_module():
    assert [f"module{m}.q{q}" for m in (1, 2) for q in range(1, 6)] == QIDS


@pytest.mark.parametrize(
    ("answer", "points"),
    [
        (["a", "c"], Fraction(1)),
        (["a"], Fraction(1, 2)),
        (["a", "b"], Fraction(1, 2) - Fraction(1, 4)),  # one right of 2, one wrong of 4
        (["b", "d", "e"], Fraction(0)),  # never below zero
        (["a", "b", "c", "d", "e", "f"], Fraction(0)),  # choosing everything: 1 - 1
        (["A", " c "], Fraction(1)),  # case and spaces are ignored
    ],
)
def test_select_all_formula(answer, points):
    assert grade_question(SELECT, answer).points == points


def test_single_choice_and_numbers_and_text():
    assert grade_question(SINGLE, "b").points == 1
    assert grade_question(SINGLE, "c").points == 0
    assert grade_question(NUMBER, "0.6").points == 1
    assert grade_question(NUMBER, "0.604").points == 1
    assert grade_question(NUMBER, "6e-1").points == 1
    assert grade_question(NUMBER, "0.61").points == 0
    assert grade_question(TEXT, "  Covariate Shift ").points == 1
    assert grade_question(TEXT, "concept drift").points == 0


@pytest.mark.parametrize(
    ("key", "answer"),
    [
        (SELECT, "a"),
        (SELECT, ["z"]),
        (SELECT, [["a"]]),
        (SINGLE, ["b"]),
        (SINGLE, "q"),
        (NUMBER, "about 0.6"),
        (NUMBER, "nan"),
        (NUMBER, ["0.6"]),
        (TEXT, ["drift"]),
    ],
)
def test_wrong_shapes_score_zero_with_a_message_that_quotes_nothing(key, answer):
    result = grade_question(key, answer)
    assert result.points == 0 and not result.answered
    assert result.problem and result.problem.startswith(key.qid)
    assert "about" not in result.problem and "nan" not in result.problem


def test_unanswered_is_not_a_problem():
    for key, empty in ((SELECT, []), (SINGLE, ""), (NUMBER, None)):
        result = grade_question(key, empty)
        assert (result.points, result.answered, result.problem) == (0, False, None)


def test_base_loader_keeps_every_scalar_a_string():
    parsed = parse_answers(
        b"module1:\n  q2: No\n  q3: 012\nmodule2:\n  q2: 1e-3\n", QIDS, max_bytes=LIMIT
    )
    assert parsed.answers == {"module1.q2": "No", "module1.q3": "012", "module2.q2": "1e-3"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "missing"),
        (b"module1: [\n", "not valid YAML"),
        (b"\x00\x01binary", "binary"),
        (b"\xff\xfe\xfa", "not UTF-8"),
        (b"a" * (LIMIT + 1), "larger than 64 KB"),
        (b"- just\n- a list\n", "must be a mapping"),
        (b"--- {}\n--- {}\n", "not valid YAML"),
    ],
)
def test_unreadable_files_give_one_clear_message(raw, message):
    parsed = parse_answers(raw, QIDS, max_bytes=LIMIT)
    assert not parsed.readable and parsed.answers == {}
    assert len(parsed.problems) == 1 and message in parsed.problems[0]


def test_python_tags_construct_nothing():
    parsed = parse_answers(b"!!python/object/apply:os.system [echo hi]\n", QIDS, max_bytes=LIMIT)
    assert parsed.answers == {} and parsed.problems


def test_unknown_keys_and_bad_sections_affect_only_themselves():
    raw = b"module1:\n  q1: [a]\n  q9: b\nmodule2: 5\nextra: 1\n"
    parsed = parse_answers(raw, QIDS, max_bytes=LIMIT)
    assert parsed.answers == {"module1.q1": ["a"]}
    text = " ".join(parsed.problems)
    assert "1 unknown top-level key" in text and "module1 has 1 unknown key" in text
    assert "module2 must be a mapping" in text


def test_key_files_load_into_keys():
    for qid, raw in load_keys().items():
        key = key_from_mapping(qid, raw)
        assert key.type in {"select_all", "single", "number", "text"}
        assert key.explanation, f"{qid} needs a reviewer explanation"
        if key.type in {"select_all", "single"}:
            assert set(key.correct) <= set(key.options)
            assert key.type == "single" or set(key.options) - set(key.correct)


def test_a_huge_exponent_is_refused_at_once():
    import time

    started = time.monotonic()
    result = grade_question(NUMBER, "1e2000000000")
    assert time.monotonic() - started < 0.5
    assert result.points == 0 and result.problem


def test_alias_bomb_is_refused_before_it_expands():
    """Nine lines of nested aliases stand for a billion strings; the file is refused unread."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    raw = ("\n".join(lines) + "\nmodule1:\n  q1: *a8\n").encode()
    parsed = parse_answers(raw, QIDS, max_bytes=LIMIT)
    assert not parsed.readable
    assert parsed.problems == ("answers.yaml uses YAML aliases (*name), which are not accepted.",)


@pytest.mark.slow
def test_a_lone_surrogate_still_gets_every_output_written(grade, submission):
    sub = submission("reference")
    text = (sub / "answers.yaml").read_text()
    (sub / "answers.yaml").write_text(text.replace("q3:", 'q3: "\\udc80"  #', 1))
    results, out = grade(sub)
    assert "\\udc80" in (out / "report.md").read_text()  # written, escaped
    assert (out / "logs" / "module3.log").exists()
    assert (out / "results.json").exists() and not (out / "results.json.partial").exists()
