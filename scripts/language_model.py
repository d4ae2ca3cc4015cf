#!/usr/bin/env python
"""The language_model application alone: `python scripts/language_model.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite language_model ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="language_model"))
