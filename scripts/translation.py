#!/usr/bin/env python
"""The translation application alone: `python scripts/translation.py ACTION ...` (train, translate, ...).

Same options as `dlsuite translation ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="translation"))
