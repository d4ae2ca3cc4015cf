#!/usr/bin/env python
"""The style transfer application alone: `python scripts/style_transfer.py train|predict|stylize|export|config ...`.

Same options as `dlsuite style_transfer ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="style_transfer"))
