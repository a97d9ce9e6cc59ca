"""Hangs, crashes and refusals stay contained: each level that fails scores 0 with the right
flag, within its time bound, and the other modules are still graded in full.

These use the default config with shorter time limits (tests/conftest.py FAST_LIMITS), so a
hang costs seconds, not a minute; the bound asserted is the configured limit plus slack.
"""

import os
import time

import pytest

pytestmark = pytest.mark.slow

SLACK = 8  # seconds of start-up and scoring on top of a limit, on a busy 2-core machine


def _levels(results):
    return {k: v["score"] for k, v in results.data["extra_data"]["levels"].items()}


def _kinds(results):
    return [f["kind"] for f in results.data["extra_data"]["flags"]]


def _append(path, text):
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def _timed(grade, folder, config):
    started = time.monotonic()
    results, out = grade(folder, config=config)
    return results, out, time.monotonic() - started


def test_app_that_never_binds_its_port(grade, submission, fast_config):
    sub = submission("reference")
    (sub / "app.py").write_text("import time\ntime.sleep(3600)\n")
    results, out, took = _timed(grade, sub, fast_config)
    assert took < fast_config.limits.app_startup_seconds + SLACK
    assert _levels(results)["module4.level1"] == 0 and _levels(results)["module4.level2"] == 0
    assert "timeout" in _kinds(results)
    assert _levels(results)["module3.level2"] == 6
    assert results.data["extra_data"]["modules"]["module1"]["score"] == 5


def test_app_that_exits_at_once_is_an_error_not_a_wait(grade, submission, fast_config):
    sub = submission("reference")
    (sub / "app.py").write_text("raise SystemExit(3)\n")
    results, _, took = _timed(grade, sub, fast_config)
    assert took < fast_config.limits.app_startup_seconds
    assert "error" in _kinds(results)
    assert _levels(results)["module4.level1"] == 0


def test_transform_that_never_returns(grade, submission, fast_config):
    sub = submission("reference")
    # Level 2's pickle holds the back-fill transformer; make its transform spin forever.
    _append(
        sub / "custom_transformers.py",
        "\n\ndef _spin(self, X):\n    while True:\n        pass\n\n"
        "BackFillImputer.transform = _spin\n",
    )
    results, _, took = _timed(grade, sub, fast_config)
    assert took < fast_config.limits.level_seconds + SLACK
    levels = _levels(results)
    assert levels["module3.level1"] == 6, "the level before the hang keeps its score"
    assert levels["module3.level2"] == 0
    assert levels["module4.level2"] == 17
    assert any(
        f["kind"] == "timeout" and "level 2" in f["detail"]
        for f in results.data["extra_data"]["flags"]
    )


def test_a_hang_in_level_1_does_not_cost_level_2(grade, submission, fast_config):
    sub = submission("reference")
    _append(
        sub / "pipeline.py",
        "\n\n_load = load_data\n\n\ndef load_data(folder):\n"
        "    if 'level1' in str(folder):\n        while True:\n            pass\n"
        "    return _load(folder)\n",
    )
    results, _, took = _timed(grade, sub, fast_config)
    assert took < fast_config.limits.level_seconds + SLACK
    assert _levels(results)["module3.level1"] == 0
    assert _levels(results)["module3.level2"] == 6


def test_a_child_that_dies_mid_level_is_an_error(grade, submission, fast_config):
    sub = submission("reference")
    _append(
        sub / "pipeline.py",
        "\n\n_load = load_data\n\n\ndef load_data(folder):\n    import os\n"
        "    if 'level1' in str(folder):\n        os._exit(0)\n    return _load(folder)\n",
    )
    results, _, _ = _timed(grade, sub, fast_config)
    assert "error" in _kinds(results)
    assert _levels(results)["module3.level1"] == 0
    assert _levels(results)["module3.level2"] == 6


def test_pickle_that_raises_on_load(grade, submission, fast_config):
    sub = submission("reference")
    _append(
        sub / "custom_transformers.py",
        "\n\ndef _refuse(self, state):\n    raise RuntimeError('no')\n\n"
        "BackFillImputer.__setstate__ = _refuse\n",
    )
    results, out, _ = _timed(grade, sub, fast_config)
    levels = _levels(results)
    assert levels["module3.level1"] == 6
    assert levels["module3.level2"] == 1, "only loading passes; the pickle check fails"
    failing = [t["name"] for t in results.data["tests"] if t["status"] == "failed"]
    assert any("preprocessor.pkl loads" in name for name in failing)
    assert "raised RuntimeError" in (out / "report.md").read_text()


def test_missing_pickle_is_a_plain_failed_check(grade, submission, fast_config):
    sub = submission("reference")
    os.remove(sub / "preprocessors" / "level1" / "preprocessor.pkl")
    results, out, _ = _timed(grade, sub, fast_config)
    assert _levels(results)["module3.level1"] == 1
    assert _levels(results)["module3.level2"] == 6
    assert results.data["extra_data"]["flags"] == []
    assert "preprocessors/level1/preprocessor.pkl is missing" in (out / "report.md").read_text()


def test_symlinked_answers_yaml_is_refused(grade, submission, fast_config):
    sub = submission("reference")
    os.remove(sub / "answers.yaml")
    os.symlink("/etc/passwd", sub / "answers.yaml")
    results, _, _ = _timed(grade, sub, fast_config)
    flags = results.data["extra_data"]["flags"]
    assert {
        "kind": "rejected_file",
        "detail": "`answers.yaml`: symbolic links are not accepted",
    } in flags
    modules = results.data["extra_data"]["modules"]
    assert modules["module1"]["score"] == 0 and modules["module2"]["score"] == 0
    assert modules["module3"]["score"] == 12 and modules["module4"]["score"] == 37
    assert "answers.yaml is missing" in results.data["output"]
