"""Write module 3's public data into the template: three CSV parts per level, no combined file.

The public data is generated with seed 0, which hidden data never uses. Run from anywhere:
``python scripts/build_public_data.py``. The output is deterministic, so running it again
changes nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
from pathlib import Path
from types import ModuleType

PROJECT = Path(__file__).resolve().parents[1]
GENERATOR = PROJECT / "hidden_tests" / "module3" / "generate.py"
PUBLIC_SEED = 0
PUBLIC_ROWS = 300
PUBLIC_PARTS = 3


def _load_generator() -> ModuleType:
    """Import the generator by path: it is a standalone, standard-library-only module."""
    spec = importlib.util.spec_from_file_location("module3_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_public_data(*, template: Path = PROJECT / "template_repo") -> list[Path]:
    """Replace ``template/data/level{1,2}/*.csv`` with freshly generated parts; return them."""
    generator = _load_generator()
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for level in (1, 2):
            out = Path(scratch) / f"level{level}"
            generator.generate(level, PUBLIC_SEED, out, n_rows=PUBLIC_ROWS, n_parts=PUBLIC_PARTS)
            target = template / "data" / f"level{level}"
            target.mkdir(parents=True, exist_ok=True)
            for stale in target.glob("*.csv"):
                stale.unlink()
            for part in sorted((out / "parts").glob("*.csv")):
                written.append(Path(shutil.copy2(part, target / part.name)))
    return written


def main() -> None:
    """Parse the command line and write the public data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--template", type=Path, default=PROJECT / "template_repo", help="template folder"
    )
    args = parser.parse_args()
    for path in build_public_data(template=args.template):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
