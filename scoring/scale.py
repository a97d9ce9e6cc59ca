"""From check results to unit scores and the scaled score.

A unit is a module without levels (`module1`) or one level of a module (`module3.level1`).
Within a unit the score is the share of its points earned; the scaled score is
`min + round_half_up((max - min) * sum(weight * share))`, computed with exact fractions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from scoring.config import Config


@dataclass(frozen=True)
class CheckResult:
    """One graded item: a quiz question or a hidden check. `points` lies in [0, max_points]."""

    name: str
    unit: str
    points: Fraction
    max_points: int = 1

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


@dataclass(frozen=True)
class UnitScore:
    """Points earned in one unit, out of its maximum."""

    unit: str
    score: Fraction
    max_score: int

    @property
    def share(self) -> Fraction:
        return self.score / self.max_score if self.max_score else Fraction(0)


@dataclass(frozen=True)
class Score:
    """Unit scores, the weighted fraction and the scaled score."""

    units: dict[str, UnitScore]
    fraction: Fraction
    scaled: int

    @property
    def raw(self) -> Fraction:
        return sum((u.score for u in self.units.values()), Fraction(0))

    def module(self, module: str) -> UnitScore:
        """The sum over a module's units (`module3` adds `module3.level1` and `.level2`)."""
        parts = [u for k, u in self.units.items() if k == module or k.startswith(module + ".")]
        return UnitScore(
            module, sum((u.score for u in parts), Fraction(0)), sum(u.max_score for u in parts)
        )


def round_half_up(x: Fraction) -> int:
    """Round to the nearest integer, halves upwards (Python's round() goes to even)."""
    return math.floor(x + Fraction(1, 2))


def score(checks: Iterable[CheckResult], config: Config) -> Score:
    """Score check results under the config's weights. Every weighted unit gets an entry."""
    earned: dict[str, Fraction] = {unit: Fraction(0) for unit in config.weights}
    possible: dict[str, int] = {unit: 0 for unit in config.weights}
    for check in checks:
        if check.unit not in earned:
            raise ValueError(f"check {check.name!r} names unknown unit {check.unit!r}")
        earned[check.unit] += check.points
        possible[check.unit] += check.max_points
    units = {u: UnitScore(u, earned[u], possible[u]) for u in config.weights}
    fraction = sum((config.weights[u] * units[u].share for u in units), Fraction(0))
    span = config.scale_max - config.scale_min
    return Score(units, fraction, config.scale_min + round_half_up(span * fraction))
