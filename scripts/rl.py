#!/usr/bin/env python
"""The RL application alone: `python scripts/rl.py train|evaluate|predict|export|config|play ...`.

Same options as `dlsuite rl ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="rl"))
