"""TensorFlow's native start-up chatter, kept out of the terminal.

TensorFlow 2.21 logs from C++ through absl. Two of its shared libraries each write a few INFO lines
while they load ("oneDNN custom operations are on", "Could not find cuda drivers"), before
TensorFlow's log initialiser has read `TF_CPP_MIN_LOG_LEVEL` and before `absl::InitializeLog()`,
hence absl's "WARNING: All log messages before absl::InitializeLog() is called are written to
STDERR"; on a machine without an NVIDIA driver the first device query adds an ERROR line "failed
call to cuInit". No environment variable reaches those lines: `TF_CPP_MIN_LOG_LEVEL` is applied
only after them (it does silence everything later), absl's `--minloglevel` is a C++ flag nothing
parses, and `ABSL_MIN_LOG_LEVEL` is a compile-time macro. So `quiet_tensorflow_start` holds the
process's native stderr (file descriptor 2) while TensorFlow loads and lists its devices, and
writes back every line but those below `TF_CPP_MIN_LOG_LEVEL` (default 2: errors and worse; a
value the user set is kept), which is what that variable would have done had it been read in time.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own log level: errors and worse

# An absl log line: severity letter, MMDD, time (before InitializeLog: 00:00:<epoch seconds>), thread id, file:line]
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
_BEFORE_INIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_NO_DRIVER = "failed call to cuInit"  # the ERROR line of a machine without a GPU


def min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def is_chatter(line: str, level: int, has_driver: bool) -> bool:
    """Whether TensorFlow would not have printed this native stderr line at `TF_CPP_MIN_LOG_LEVEL=level`
    had it read the variable before writing it (a failed cuInit counts as chatter where there is no
    NVIDIA driver to fail)."""
    if line.rstrip("\n") == _BEFORE_INIT:
        return level >= 1
    found = _ABSL_LINE.match(line)
    if not found:
        return False
    if _NO_DRIVER in line and not has_driver:
        return level >= 2
    return _SEVERITY[found.group(1)] < level


@contextlib.contextmanager
def quiet_tensorflow_start():
    """Within it, TensorFlow's native start-up lines below `TF_CPP_MIN_LOG_LEVEL` are dropped from stderr;
    anything else written to stderr meanwhile is written out when it ends (so a process that crashes
    inside loses it: `TF_CPP_MIN_LOG_LEVEL=0` holds nothing back). Import TensorFlow inside it."""
    level = min_log_level()
    if level <= 0:  # everything wanted: nothing held back (not even what a crash while loading would lose)
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
            if "tensorflow" in sys.modules:  # the first device query, where a failed cuInit is logged
                sys.modules["tensorflow"].config.list_physical_devices()
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            has_driver = os.path.exists("/proc/driver/nvidia")
            kept = [line for line in held.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not is_chatter(line, level, has_driver)]
            if kept:
                os.write(2, "".join(kept).encode("utf-8"))
