"""Grade one submission: copy it, run the sandboxed checks side by side, score, report.

Entry point: `main(submission=..., out=...)`. The modules are independent, so module 3's and
module 4's children run at the same time while this process scores the quiz and computes the
oracle's answers.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mle_assess import TEMPLATE_DIR
from mle_assess.children import MODULE3_CHILD, MODULE4_CHILD
from mle_assess.errors import MleAssessError, SubmissionError
from mle_assess.grade import module3, module4
from mle_assess.grade.quiz import grade_quiz
from mle_assess.grade.report import Results, build_results, write_outputs
from mle_assess.grade.snapshot import copy_submission
from mle_assess.runtime import Runtime, find
from mle_assess.sandbox import resolve
from scoring import Config, load_config

DEFAULT_SEED = 1


def main(
    *,
    submission: Path,
    out: Path,
    seed: int = DEFAULT_SEED,
    config: Config | None = None,
    runtime: Runtime | None = None,
    template: Path = TEMPLATE_DIR,
    template_ref: str | None = None,
    isolation: str = "auto",
) -> Results:
    """Grade `submission` and write `out/results.json`, `out/report.md` and the logs.

    `template` is the template the candidate was given (their repository was generated from
    the template repository's commit `template_ref`): protected files are compared with it and
    restored from it. By default it is this checkout's template_repo/, today's version.

    `isolation` is "auto" (full when the grader is root, else reduced), "full" (raise
    SandboxError when it is unavailable) or "reduced".
    """
    started = time.monotonic()
    submission = Path(submission)
    if not submission.is_dir():
        raise SubmissionError(f"submission folder {submission} does not exist or is not a folder")
    if not Path(template).is_dir():
        raise MleAssessError(f"template folder {template} does not exist or is not a folder")
    config = config or load_config()
    runtime = runtime or find()
    isolation = resolve(isolation)
    scratch = Path(tempfile.mkdtemp(prefix="mle-assess-grade-"))
    try:
        return _grade(
            submission,
            Path(out),
            seed,
            config,
            runtime,
            template,
            scratch,
            started,
            isolation,
            template_ref=template_ref,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _grade(
    submission: Path,
    out: Path,
    seed: int,
    config: Config,
    runtime: Runtime,
    template: Path,
    scratch: Path,
    started: float,
    isolation: str,
    *,
    template_ref: str | None,
) -> Results:
    limits = config.limits
    work = scratch / "submission"
    flags = copy_submission(
        submission, work, template=template, max_file_bytes=limits.submission_file_kb * 1024
    )
    inputs = scratch / "inputs"
    module3.prepare_inputs(inputs / "module3", seed)
    drawn = module4.prepare_inputs(inputs / "module4", seed)
    children = scratch / "bin"
    children.mkdir()
    for script in (MODULE3_CHILD, MODULE4_CHILD):
        shutil.copyfile(script, children / script.name)
    common = {
        "work": work,
        "runtime_python": runtime.python,
        "limits": limits,
        "children": children,
        "isolation": isolation,
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        m3_future = pool.submit(
            module3.run, inputs=inputs / "module3", scratch=scratch / "m3", **common
        )
        m4_future = pool.submit(
            module4.run, inputs=inputs / "module4", scratch=scratch / "m4", **common
        )
        quiz = grade_quiz(work, max_bytes=limits.answers_yaml_kb * 1024)
        expected = module3.expectations(inputs / "module3")
        m3_levels, m3_flags, m3_log, m3_limits = m3_future.result()
        m3_checks = module3.checks(m3_levels, expected, work)
        m4_run = m4_future.result()
    results = build_results(
        quiz=quiz,
        coding=m3_checks + module4.checks(drawn, m4_run),
        flags=flags + m3_flags + m4_run.flags,
        config=config,
        seed=seed,
        execution_time=time.monotonic() - started,
        isolation=isolation,
        limits_enforced_by=_weakest(m3_limits, m4_run.limits),
        template_ref=template_ref,
    )
    write_outputs(results, out, logs={"module3": m3_log, "module4": m4_run.log})
    return results


def _weakest(*enforced: str) -> str:
    """How limits were enforced, as the weakest of the children's (cgroups may fail for one)."""
    return min(enforced, key=len)
