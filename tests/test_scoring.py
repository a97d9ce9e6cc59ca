"""Scoring is pure: check results in, unit scores and the 200-600 scale out."""

from fractions import Fraction

import pytest

from scoring import CheckResult, load_config, score
from scoring.config import ConfigError
from scoring.scale import round_half_up


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_weights_are_the_documented_defaults(config):
    assert config.weights == {
        "module1": Fraction(15, 100),
        "module2": Fraction(15, 100),
        "module3.level1": Fraction(15, 100),
        "module3.level2": Fraction(20, 100),
        "module4.level1": Fraction(15, 100),
        "module4.level2": Fraction(20, 100),
    }
    assert (config.scale_min, config.scale_max) == (200, 600)


def test_nothing_right_is_200_and_everything_right_is_600(config):
    units = list(config.weights)
    none = [CheckResult(f"{u}.c", u, Fraction(0)) for u in units]
    full = [CheckResult(f"{u}.c", u, Fraction(1)) for u in units]
    assert score(none, config).scaled == 200
    assert score(full, config).scaled == 600


def test_a_level_scores_the_share_of_its_checks(config):
    # module3.level2 has 3 of 4 checks passing: 400 * 0.20 * 3/4 = 60 -> 260
    checks = [CheckResult(f"c{i}", "module3.level2", Fraction(int(i < 3))) for i in range(4)]
    result = score(checks, config)
    assert result.units["module3.level2"].share == Fraction(3, 4)
    assert result.scaled == 260


def test_an_empty_unit_scores_zero_not_an_error(config):
    assert score([], config).scaled == 200


def test_rounding_goes_half_up():
    assert round_half_up(Fraction(1, 2)) == 1
    assert round_half_up(Fraction(5, 2)) == 3
    assert round_half_up(Fraction(249, 100)) == 2


def test_unknown_unit_is_refused(config):
    with pytest.raises(ValueError, match="unknown unit"):
        score([CheckResult("x", "module9", Fraction(1))], config)


def test_weights_must_sum_to_one(tmp_path):
    text = load_config().source.read_text().replace('"module1" = "0.15"', '"module1" = "0.25"')
    bad = tmp_path / "config.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="sum to"):
        load_config(bad)


def test_missing_limit_is_a_clear_error(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text(load_config().source.read_text().replace("log_kb", "log_size"))
    with pytest.raises(ConfigError, match="log_kb"):
        load_config(bad)
