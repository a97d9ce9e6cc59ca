"""Module 3: the custom classes your preprocessors use, if any.

Put every class that a pickled preprocessor needs here, never in ``pipeline.py``. A class
defined in the script you run is pickled as ``__main__.<name>``, and no other program can load
it. The grader makes this module importable as ``custom_transformers`` before unpickling.
"""

# TODO: module 3, level 2 (if you need a transformer of your own).
