"""Module 3 child: run the candidate's loader and pickled preprocessors on the given inputs.

Usage: python -I module3_child.py SUBMISSION_DIR INPUTS_DIR LEVEL [LEVEL ...]

For each level, INPUTS_DIR/levelN/parts/ holds the CSV parts for `load_data`, and
INPUTS_DIR/levelN/combined.csv the combined raw frame for `fit_transform`. One JSON message per
level goes to the original standard output:

    {"level": N, "load": {"columns": [...], "rows": [[...], ...]} | {"error": CODE, ...},
     "preprocess": {"names": [...], "values": [[...], ...]} | {"error": CODE, ...}}

CODE is one of the words in `guarded` and the GraderNote calls; the grader turns it into text.

This script is standalone: it imports only the standard library and, on the grading runtime,
pandas and numpy.
"""

import json
import math
import os
import pickle
import pickletools
import sys
import traceback

MAX_CELLS = 2_000_000


def main(argv):
    """Grade each requested level in turn, sending one message per level."""
    submission, inputs, levels = argv[1], argv[2], [int(x) for x in argv[3:]]
    # Everything this script needs is imported before the submission joins sys.path, so a
    # candidate's json.py, pickle.py or pandas.py cannot stand in for the real module here.
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the candidate's prints go to the log, never to the channel
    sys.stdout = sys.stderr
    sys.path.insert(0, submission)
    os.chdir(submission)
    for level in levels:
        base = os.path.join(inputs, f"level{level}")
        message = {
            "level": level,
            "load": guarded(run_load, os.path.join(base, "parts")),
            "preprocess": guarded(run_preprocess, submission, base, level),
        }
        channel.write(json.dumps(message, allow_nan=False) + "\n")
        channel.flush()


def guarded(step, *args):
    """Run one step; a failure becomes {"error": code} and its traceback goes to the log.

    Codes are fixed words (the grader words the message itself); for an exception raised by
    the candidate's code the code is "raised", with the exception's class name beside it."""
    try:
        return step(*args)
    except BaseException as exc:  # noqa: BLE001 - candidate code may raise anything
        traceback.print_exc()
        if isinstance(exc, GraderNote):
            return {"error": str(exc.args[0])}
        return {"error": "raised", "exception": str(type(exc).__name__)[:100]}


class GraderNote(Exception):
    """A failure this script diagnosed itself, carrying one of the fixed codes."""


def run_load(parts):
    import pipeline  # the candidate's module, from the submission folder

    frame = pipeline.load_data(parts)
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise GraderNote("not_dataframe")
    if frame.size > MAX_CELLS:
        raise GraderNote("load_too_big")
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[cell(v) for v in row] for row in frame.itertuples(index=False)],
    }


def run_preprocess(submission, base, level):
    import pandas as pd

    path = os.path.join(submission, "preprocessors", f"level{level}", "preprocessor.pkl")
    if not os.path.isfile(path):
        raise GraderNote("pickle_missing")
    with open(path, "rb") as handle:
        blob = handle.read()
    if references_main(blob):
        raise GraderNote("pickle_main")
    if os.path.isfile(os.path.join(submission, "custom_transformers.py")):
        import custom_transformers  # noqa: F401 - classes the pickle may need
    preprocessor = pickle.loads(blob)
    frame = pd.read_csv(os.path.join(base, "combined.csv"))
    output = preprocessor.fit_transform(frame)
    names = [str(n) for n in preprocessor.get_feature_names_out()]
    return {"names": names, "values": to_rows(output)}


def references_main(blob):
    """True when the pickle names anything in __main__ (checked without unpickling)."""
    try:
        strings = []
        for opcode, arg, _ in pickletools.genops(blob):
            if opcode.name in ("GLOBAL", "INST") and str(arg).split(" ")[0] == "__main__":
                return True
            if isinstance(arg, str):
                strings.append(arg)
            if opcode.name == "STACK_GLOBAL" and len(strings) >= 2 and strings[-2] == "__main__":
                return True
    except Exception:  # noqa: BLE001 - an unreadable pickle fails when it is loaded
        return False
    return False


def to_rows(output):
    """DataFrame, ndarray or sparse matrix -> rows of floats (booleans count as 0 and 1)."""
    import numpy as np

    if hasattr(output, "toarray"):
        output = output.toarray()
    if hasattr(output, "to_numpy"):
        output = output.to_numpy()
    array = np.asarray(output)
    if array.ndim != 2:
        raise GraderNote("not_2d")
    if array.size > MAX_CELLS:
        raise GraderNote("output_too_big")
    try:
        array = array.astype(float)
    except (TypeError, ValueError):
        raise GraderNote("not_numeric") from None
    return [[cell(v) for v in row] for row in array.tolist()]


def cell(value):
    """A JSON-safe cell: numbers as floats, missing as null, anything else as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) or type(value).__module__ == "numpy":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return None if math.isnan(number) else (number if math.isfinite(number) else str(number))
    if value != value:  # pandas NA-like
        return None
    return str(value)


if __name__ == "__main__":
    main(sys.argv)
