#!/usr/bin/env python
"""The text generation application alone: `python scripts/text_generation.py ACTION ...`.

ACTION is train, evaluate, predict, generate, export, tune or config, with the same options as
`dlsuite text_generation ACTION ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="text_generation"))
