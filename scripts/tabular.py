#!/usr/bin/env python
"""The tabular application alone: `python scripts/tabular.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite tabular ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="tabular"))
