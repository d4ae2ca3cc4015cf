"""The front door starts at once: help, `list` and `config` import no TensorFlow; TensorFlow's start-up chatter
stays out of stderr when a command does load it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from dlsuite.registry import APPS, SPECS
from dlsuite.startup import is_chatter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs `dlsuite ARGS` for every ARGS in sys.argv[1] (JSON) in one interpreter in which TensorFlow, Keras and
# TFDS cannot be imported; prints {"codes": [exit codes], "loaded": [heavy modules loaded]} as the last line.
BLOCKED_RUN = """
import contextlib, io, json, sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("tensorflow", "keras", "tensorflow_datasets"):
            raise ImportError(f"{name} may not be imported here")
        return None

sys.meta_path.insert(0, Blocked())
from dlsuite.cli import run

codes = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()):
        codes.append(run(argv))
loaded = sorted(m for m in ("tensorflow", "keras", "tensorflow_datasets") if m in sys.modules)
print(json.dumps({"codes": codes, "loaded": loaded}))
"""


def commands() -> list[list[str]]:
    """`--help`, `list`, and for every application its help, `config`, `train --help` (its config's own flags)
    and the help of its own actions (their options); the other actions' options are the same for all."""
    found = [["--help"], ["list"], ["time_series", "tune", "--help"], ["time_series", "evaluate", "--help"],
             ["time_series", "predict", "--help"], ["time_series", "export", "--help"]]
    for name, spec in SPECS.items():
        found += [[name, "--help"], [name, "config"], [name, "train", "--help"]]
        found += [[name, action, "--help"] for action, _ in spec.actions]
    return found


def test_help_list_and_config_import_no_tensorflow():
    argvs = commands()
    done = subprocess.run([sys.executable, "-c", BLOCKED_RUN, json.dumps(argvs)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    failed = [" ".join(argv) for argv, code in zip(argvs, result["codes"]) if code != 0]
    assert not failed, failed
    assert result["loaded"] == [], result["loaded"]
    assert not done.stderr.strip(), done.stderr

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dlsuite", "--help"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0 and "image_classification" in done.stdout
    print(f"\n`python -m dlsuite --help` took {time.perf_counter() - started:.2f} s wall time")


def test_specs_match_their_tasks():
    from common.datasets.embedded import embedded_name
    from common.task import Task

    for name, spec in SPECS.items():
        task = APPS[name]
        assert task.spec is spec and task.name == spec.name == name and task.config_class is spec.config_class
        builders = [(embedded_name(b), b.KIND, b.DESCRIPTION) for b in task.embedded_datasets]
        assert builders == [(row.name, row.kind, row.description) for row in spec.embedded_datasets], name
        if spec.actions:
            assert type(task).run_action is not Task.run_action, name  # the spec's actions have a runner


@pytest.mark.slow
def test_tensorflow_start_up_chatter_is_dropped(tmp_path):
    # a command that loads its task (and TensorFlow), then stops on bad input
    done = subprocess.run([sys.executable, "-m", "dlsuite", "time_series", "evaluate", "--run", str(tmp_path / "none")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("dlsuite: error: ") and "config.json not found" in lines[-1], done.stderr
    for noise in ("cuInit", "oneDNN", "absl::InitializeLog", "cuda drivers", "cpu_feature_guard"):
        assert noise not in done.stderr, done.stderr


def test_chatter_is_what_the_log_level_hides():
    info = "I0000 00:00:1796195009.978242    3936 port.cc:153] oneDNN custom operations are on.\n"
    error = "E0000 00:00:1796195031.572734    4258 cuda_platform.cc:52] failed call to cuInit: INTERNAL: (303)\n"
    other_error = "E1202 07:03:35.572734    4258 session.cc:10] something real\n"
    before = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    assert is_chatter(info, 2, False) and is_chatter(before, 2, False) and is_chatter(error, 2, False)
    assert not is_chatter(other_error, 2, False) and not is_chatter("Traceback (most recent call last):\n", 3, False)
    assert not is_chatter(error, 2, True)  # a driver that fails to start is worth a line
    assert not any(is_chatter(line, 0, False) for line in (info, error, before))  # TF_CPP_MIN_LOG_LEVEL=0: all
