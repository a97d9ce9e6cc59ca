"""Sample submissions: the template plus a solution overlay.

Each folder here holds only the files that differ from `template_repo/`. A sample is built by
copying the template, laying the overlay files on top and, when the sample has its own
`pipeline.py`, running it on the grading runtime to pickle the preprocessors, as a candidate
would before pushing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mle_assess import TEMPLATE_DIR

SOLUTIONS_DIR = Path(__file__).resolve().parent

# sample name -> {file in the submission: solution folder it comes from}
SAMPLES: dict[str, dict[str, str]] = {
    "template": {},
    "reference": {
        "answers.yaml": "reference",
        "pipeline.py": "reference",
        "custom_transformers.py": "reference",
        "app.py": "reference",
    },
    "quiz_only": {"answers.yaml": "reference"},
    "quiz_half": {"answers.yaml": "quiz_half"},
    "m3_level1_only": {"pipeline.py": "m3_level1_only", "custom_transformers.py": "reference"},
    "m4_no_anomaly": {"app.py": "m4_no_anomaly"},
    "m4_round2": {"app.py": "m4_round2"},
}


def build_sample(
    name: str, dest: Path, *, runtime_python: Path, template: Path = TEMPLATE_DIR
) -> Path:
    """Create the sample submission `name` in the new folder `dest` and return it."""
    shutil.copytree(template, dest)
    overlay = SAMPLES[name]
    for relative, folder in overlay.items():
        shutil.copyfile(SOLUTIONS_DIR / folder / relative, dest / relative)
    if "pipeline.py" in overlay:
        subprocess.run(
            [str(runtime_python), "pipeline.py"],
            cwd=dest,
            check=True,
            capture_output=True,
            timeout=120,
        )
    return dest
