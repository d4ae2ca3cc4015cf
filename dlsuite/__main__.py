"""`python -m dlsuite ...`: the same as the `dlsuite` command."""

from dlsuite.cli import main

main()
