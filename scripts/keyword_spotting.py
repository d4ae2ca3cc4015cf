#!/usr/bin/env python
"""The keyword_spotting application alone: `python scripts/keyword_spotting.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite keyword_spotting ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="keyword_spotting"))
