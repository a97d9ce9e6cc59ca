"""The hidden side of the assessment: answer keys, data generators, the module 3 oracle, the
module 4 request cases, and reference and partial solutions. Never copied to a candidate."""

from __future__ import annotations

from pathlib import Path

import yaml

HIDDEN_DIR = Path(__file__).resolve().parent
KEYS_DIR = HIDDEN_DIR / "keys"
QUIZ_MODULES = ("module1", "module2")
# Planted in every hidden file; tests assert it never reaches a candidate or their output.
CANARY = "MLEA-CANARY-3c9e1f0b7d2a"


def load_keys() -> dict[str, dict]:
    """Every quiz key by question id (`module1.q1`), as raw mappings."""
    keys: dict[str, dict] = {}
    for module in QUIZ_MODULES:
        data = yaml.safe_load((KEYS_DIR / f"{module}.yaml").read_text(encoding="utf-8"))
        for name in sorted(data, key=lambda q: int(q[1:])):
            keys[f"{module}.{name}"] = data[name]
    return keys
