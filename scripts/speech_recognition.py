#!/usr/bin/env python
"""The speech_recognition application alone: `python scripts/speech_recognition.py train|evaluate|predict|export|tune|config ...`.

Same options as `dlsuite speech_recognition ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="speech_recognition"))
