#!/usr/bin/env python
"""The time_series application alone: `python scripts/time_series.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite time_series ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="time_series"))
