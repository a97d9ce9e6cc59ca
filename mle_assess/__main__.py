"""`python -m mle_assess` runs the command line, like the `mle-assess` script."""

from mle_assess.cli import main

main(prog_name="mle-assess")
