#!/usr/bin/env python
"""The object_detection application alone: `python scripts/object_detection.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite object_detection ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="object_detection"))
