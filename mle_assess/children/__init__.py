"""Standalone child entry scripts, run on the grading runtime by path.

They import nothing from this project (a test checks it), take plain inputs, and send back
plain JSON messages on their standard output, one per line. Whatever the candidate's code
prints is moved to standard error, the log.
"""

from pathlib import Path

CHILDREN_DIR = Path(__file__).resolve().parent
MODULE3_CHILD = CHILDREN_DIR / "module3_child.py"
MODULE4_CHILD = CHILDREN_DIR / "module4_child.py"
