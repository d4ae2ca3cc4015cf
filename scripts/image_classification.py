#!/usr/bin/env python
"""The image_classification application alone: `python scripts/image_classification.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite image_classification ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="image_classification"))
