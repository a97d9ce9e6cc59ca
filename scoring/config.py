"""The scoring config: weights, scale and limits, read from `scoring/config.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).with_name("config.toml")


class ConfigError(ValueError):
    """The scoring config file is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Limits:
    """Every limit the grader enforces; the candidate README states each value."""

    level_seconds: int
    app_startup_seconds: int
    request_seconds: int
    memory_mb: int
    file_size_mb: int
    processes: int
    open_files: int
    tmp_mb: int
    submission_file_kb: int
    answers_yaml_kb: int
    log_kb: int


@dataclass(frozen=True)
class Config:
    """Weights per unit (exact fractions summing to 1), the scale, and the limits."""

    weights: dict[str, Fraction]
    scale_min: int
    scale_max: int
    limits: Limits
    source: Path


def load_config(path: Path | None = None) -> Config:
    """Read and check a config file; `path=None` reads the default one."""
    source = Path(path) if path else DEFAULT_CONFIG
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read scoring config {source}: {exc}") from exc
    try:
        weights = {unit: Fraction(str(share)) for unit, share in data["weights"].items()}
        limits = Limits(**{f.name: int(data["limits"][f.name]) for f in fields(Limits)})
        scale_min, scale_max = int(data["scale"]["min"]), int(data["scale"]["max"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"scoring config {source} is incomplete or malformed: {exc}") from exc
    if sum(weights.values()) != 1:
        raise ConfigError(f"weights in {source} sum to {float(sum(weights.values()))}, not 1")
    if scale_max <= scale_min:
        raise ConfigError(f"scale in {source} must have max > min")
    return Config(weights, scale_min, scale_max, limits, source)
