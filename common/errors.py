"""Errors the command line turns into a one-line message and an exit code."""


class UsageError(Exception):
    """Bad input from the user (unknown name, missing path, bad value): exit code 2."""

    exit_code = 2


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped: exit code 3."""

    exit_code = 3
