"""Nothing printed through `for_log` can act as a GitHub workflow command."""

import pytest

from mle_assess.logsafe import for_log

ATTACKS = [
    "::add-mask::secret",
    "  ::warning file=app.py::forged",
    "ok\n::set-output name=score::600",
    "ok\r::error::carriage return",
    "text ##[error]old form mid-line",
    "::stop-commands::token\n::endgroup::",
    "\t::notice::tab first",
]


def is_command(line: str) -> bool:
    """The runner's test: `::` after leading whitespace, or `##[` anywhere."""
    return line.lstrip().startswith("::") or "##[" in line


@pytest.mark.parametrize("text", ATTACKS)
def test_no_line_is_a_workflow_command(text):
    assert any(is_command(line) for line in text.replace("\r", "\n").splitlines())
    safe = for_log(text)
    assert not any(is_command(line) for line in safe.replace("\r", "\n").splitlines())


def test_plain_text_is_unchanged():
    text = "scaled 600 | module1=5/5 | flags 0 | 1.4 s\nwrote out/results.json"
    assert for_log(text) == text
