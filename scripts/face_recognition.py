#!/usr/bin/env python
"""The face_recognition application alone: `python scripts/face_recognition.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite face_recognition ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="face_recognition"))
