#!/usr/bin/env python
"""The chatbot application alone: `python scripts/chatbot.py ACTION ...` (train, chat, ...).

Same options as `dlsuite chatbot ...`; run with --help for them.
"""

import sys

from dlsuite.cli import run

if __name__ == "__main__":
    sys.exit(run(app="chatbot"))
