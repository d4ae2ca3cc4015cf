#!/usr/bin/env python
"""The transfer_learning application alone: `python scripts/transfer_learning.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite transfer_learning ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="transfer_learning"))
