#!/usr/bin/env python
"""The fundamentals application alone: `python scripts/fundamentals.py train|evaluate|predict|export|config ...`.

Same options as `dlsuite fundamentals ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="fundamentals"))
