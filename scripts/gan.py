#!/usr/bin/env python
"""The GAN application alone: `python scripts/gan.py train|evaluate|generate|export|tune|config ...`.

Same options as `dlsuite gan ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="gan"))
