"""Scoring: pure functions from check results to points, unit scores and the 200-600 scale.

Nothing here touches files, processes, GitHub or a database, except `load_config`, which reads
the one config file that holds the weights, the scale and the limits.
"""

from scoring.config import Config, Limits, load_config
from scoring.scale import CheckResult, Score, UnitScore, score

__all__ = ["CheckResult", "Config", "Limits", "Score", "UnitScore", "load_config", "score"]
