#!/usr/bin/env python
"""The sentiment application alone: `python scripts/sentiment.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite sentiment ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="sentiment"))
