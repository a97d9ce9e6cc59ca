"""Text that is safe to print into a CI log.

A GitHub Actions runner reads a workflow command (`::add-mask::`, `::warning::`,
`::stop-commands::` and the like) from any output line that starts with `::` once leading
spaces are trimmed, and the older `##[command]` form from anywhere in a line. Whatever the
grader prints that could carry text from a submission goes through `for_log` first, so no
such command can come from a candidate.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]")
_COMMAND_LINE = re.compile(r"^(?=\s*::)", re.M)


def for_log(text: str) -> str:
    """`text` with control characters shown as escapes and every workflow command defused.

    A line that would start with `::` gets a leading `| `; `##[` becomes `# #[`; a carriage
    return, which a terminal shows as a fresh line, becomes the text `\\x0d`.
    """
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _COMMAND_LINE.sub("| ", text).replace("##[", "# #[")
