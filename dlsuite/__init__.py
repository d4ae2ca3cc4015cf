"""The front door of the suite: the only code that knows every application.

`dlsuite.registry` lists the applications, `dlsuite.cli` is the `dlsuite` command (also
`python -m dlsuite`). Nothing under `apps/`, `tuning/` or `common/` imports this package.
"""
