#!/usr/bin/env python
"""The face_detection application alone: `python scripts/face_detection.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite face_detection ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="face_detection"))
