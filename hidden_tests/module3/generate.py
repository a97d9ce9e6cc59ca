"""Seeded generators for module 3's survey data: CSV parts plus the combined, id-sorted table.

Only the standard library is used, so a hidden data set costs milliseconds to make. Every
output is a pure function of (level, seed, n_rows, n_parts). Seed 0 is the public data that
ships in the candidate's template; hidden sets use seeds of 1 and above.

Each set is built to exercise every rule the candidate is told about:

- rows are shuffled across the parts, so no part is sorted or holds a contiguous id range;
- every nullable column has gaps, and a few rows miss several fields at once;
- level 2: ``reason`` has a leading gap, runs of consecutive gaps and a trailing run at the
  highest ids, and each categorical column lacks at least one of its options entirely.
"""

# canary: MLEA-CANARY-3c9e1f0b7d2a

from __future__ import annotations

import csv
import random
from itertools import pairwise
from pathlib import Path

LEVEL1_COLUMNS = (
    "id",
    "transportCardId",
    "age",
    "averageTravelDistance",
    "travelFrequency",
    "travelExpenses",
    "satisfaction",
)
LEVEL2_COLUMNS = (
    "id",
    "transportCardId",
    "age",
    "gender",
    "averageTravelDistance",
    "travelFrequency",
    "travelExpenses",
    "favouriteTransport",
    "reason",
    "satisfaction",
)
OPTIONS = {
    "gender": ("male", "female", "didn't share"),
    "favouriteTransport": ("tram", "trolleybus", "bus", "underground", "bicycle", "no preference"),
    "reason": ("job", "university", "fun activities", "countryside", "hospital"),
}
# The value a gap in these columns turns into. Leaving such an option out of the raw data would
# not leave its one-hot column empty, so the option dropped from the data is drawn elsewhere.
FILL_VALUES = {"gender": "didn't share", "favouriteTransport": "no preference"}
NEVER_MISSING = ("id", "satisfaction")
MIN_ROWS = 60
MIN_PARTS = 3

Row = dict[str, str]


def columns_for(level: int) -> tuple[str, ...]:
    """Return the column order of a level's CSV files."""
    if level == 1:
        return LEVEL1_COLUMNS
    if level == 2:
        return LEVEL2_COLUMNS
    raise ValueError(f"level must be 1 or 2, not {level!r}")


def nullable_columns(level: int) -> tuple[str, ...]:
    """Return the columns of a level that may hold missing values."""
    return tuple(c for c in columns_for(level) if c not in NEVER_MISSING)


def generate(level: int, seed: int, out_dir: Path, *, n_rows: int = 600, n_parts: int = 3) -> None:
    """Write ``out_dir/parts/part-1.csv`` .. ``part-N.csv`` and ``out_dir/combined.csv``.

    The parts hold the rows shuffled across them; ``combined.csv`` holds the same rows sorted
    by id. Missing values are empty fields. Old ``*.csv`` files in ``out_dir/parts`` are
    removed first, so a folder can be reused.
    """
    columns = columns_for(level)
    if n_rows < MIN_ROWS:
        raise ValueError(f"n_rows must be at least {MIN_ROWS}")
    if n_parts < MIN_PARTS:
        raise ValueError(f"n_parts must be at least {MIN_PARTS}")
    # A string seed is hashed with SHA-512 by `random`, so streams are stable across runs and
    # unrelated between seeds and levels (no systematic overlap of public and hidden rows).
    rng = random.Random(f"mle-assess/module3/level{level}/seed{seed}")
    rows = _draw_rows(rng, level, n_rows)
    nullable = nullable_columns(level)
    _blank_at_random(rng, rows, nullable)
    _blank_several_fields(rng, rows, nullable)
    if level == 2:
        _shape_reason_gaps(rng, rows)
    _ensure_every_column_has_a_gap(rng, rows, nullable)
    out_dir = Path(out_dir)
    _write_csv(out_dir / "combined.csv", columns, rows)
    parts_dir = out_dir / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    for stale in parts_dir.glob("*.csv"):
        stale.unlink()
    for number, part in enumerate(_split(rng, rows, n_parts), start=1):
        _write_csv(parts_dir / f"part-{number}.csv", columns, part)


def _draw_rows(rng: random.Random, level: int, n_rows: int) -> list[Row]:
    """Draw complete rows (no gaps yet), sorted by id."""
    ids = sorted(rng.sample(range(100_000, 1_000_000), n_rows))
    cards = rng.sample(range(10_000_000, 100_000_000), n_rows)
    pickers = _category_pickers(rng) if level == 2 else {}
    rows = []
    for row_id, card in zip(ids, cards, strict=True):
        row = {
            "id": str(row_id),
            "transportCardId": str(card),
            "age": str(rng.randint(16, 90)),
            "averageTravelDistance": str(rng.randint(1, 45)),
            "travelFrequency": f"{rng.uniform(0.5, 25.0):.2f}",
            "travelExpenses": f"{rng.uniform(4.0, 180.0):.2f}",
            "satisfaction": str(rng.randint(1, 10)),
        }
        for column, (options, weights) in pickers.items():
            row[column] = rng.choices(options, weights=weights)[0]
        rows.append(row)
    return rows


def _category_pickers(rng: random.Random) -> dict[str, tuple[list[str], list[float]]]:
    """Choose, per categorical column, the options present in the data and their weights."""
    pickers = {}
    for column, options in OPTIONS.items():
        # The dropped option is never a fill value, so its one-hot column stays all zero.
        droppable = [o for o in options if o != FILL_VALUES.get(column)]
        n_drop = 1 if column == "gender" else rng.randint(1, 2)
        dropped = set(rng.sample(droppable, n_drop))
        present = [o for o in options if o not in dropped]
        pickers[column] = (present, [rng.uniform(0.5, 2.0) for _ in present])
    return pickers


def _blank_at_random(rng: random.Random, rows: list[Row], nullable: tuple[str, ...]) -> None:
    """Blank each nullable cell with a per-column rate between 8% and 15%."""
    for column in nullable:
        rate = rng.uniform(0.08, 0.15)
        for row in rows:
            if rng.random() < rate:
                row[column] = ""


def _blank_several_fields(rng: random.Random, rows: list[Row], nullable: tuple[str, ...]) -> None:
    """Make a few rows (away from both ends) miss three or more fields at once."""
    for row in rng.sample(rows[5:-5], rng.randint(3, 5)):
        for column in rng.sample(nullable, rng.randint(3, len(nullable))):
            row[column] = ""


def _shape_reason_gaps(rng: random.Random, rows: list[Row]) -> None:
    """Give ``reason`` a leading gap, inner runs of gaps and a trailing run after a valid value."""
    present = sorted({row["reason"] for row in rows if row["reason"]})
    n = len(rows)
    lead = rng.randint(1, 2)
    trail = rng.randint(2, 4)
    for row in rows[:lead]:
        row["reason"] = ""
    for row in rows[n - trail :]:
        row["reason"] = ""
    # A valid value right before the trailing run is what those rows must copy.
    if not rows[n - trail - 1]["reason"]:
        rows[n - trail - 1]["reason"] = rng.choice(present)
    for _ in range(rng.randint(2, 3)):
        length = rng.randint(2, 4)
        start = rng.randint(lead + 2, n - trail - length - 3)
        for row in rows[start : start + length]:
            row["reason"] = ""


def _ensure_every_column_has_a_gap(
    rng: random.Random, rows: list[Row], nullable: tuple[str, ...]
) -> None:
    """Blank one inner cell of any nullable column that chance left complete."""
    for column in nullable:
        if all(row[column] for row in rows):
            rng.choice(rows[5:-5])[column] = ""


def _split(rng: random.Random, rows: list[Row], n_parts: int) -> list[list[Row]]:
    """Shuffle the rows and cut them into parts of uneven, non-empty sizes."""
    shuffled = list(rows)
    rng.shuffle(shuffled)
    smallest = len(rows) // (3 * n_parts)
    while True:
        bounds = [0, *sorted(rng.sample(range(1, len(rows)), n_parts - 1)), len(rows)]
        # Re-draw cuts that left a part too small to be realistic.
        if min(b - a for a, b in pairwise(bounds)) >= smallest:
            return [shuffled[a:b] for a, b in pairwise(bounds)]


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[Row]) -> None:
    """Write rows with a header; empty fields stand for missing values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)
