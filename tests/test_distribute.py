"""Distribution strategies: `--strategy` name resolution, and real training runs under
`MirroredStrategy` (two logical CPU devices) and `MultiWorkerMirroredStrategy` (two worker
processes talking gRPC on 127.0.0.1), all offline on the embedded datasets.

Logical devices must be configured before TensorFlow initialises, and a multi-worker cluster
needs one process per worker, so the training runs happen in subprocesses; the test process
only prepares the datasets (once, so the workers never race to write the same TFDS files).
"""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest
import tensorflow as tf

from common import distribute
from common.errors import UsageError

REPO = Path(__file__).resolve().parents[1]

# A tiny CNN that reliably learns digits in two epochs (about 0.75-0.85 test accuracy, chance is
# 0.1). The default config (augmentation, dropout, batch norm, lr 2e-3) is still at chance after
# two epochs, which would make "it trained" uncheckable.
TINY_CNN = [
    "--set", "depth=1", "--set", "width=8", "--set", "dense_units=16", "--set", "baseline_max_samples=0",
    "--set", "augment=false", "--set", "dropout=0", "--set", "batch_norm=false", "--set", "learning_rate=0.01",
]
TINY_RNN = ["--set", "units=8", "--set", "arima_order=[2,0,0]"]

# Runs the CLI with the host CPU split into two logical devices, so MirroredStrategy gets 2 replicas.
TWO_CPUS = """\
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)
assert len(tf.config.list_logical_devices("CPU")) == 2

from dlsuite.cli import run

sys.exit(run(sys.argv[1:]))
"""


# --- unit: names, TF_CONFIG, chief ---------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("TF_CONFIG", "TPU_NAME", "TPU_CONFIG", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _tf_config(workers: int, chief: int = 0, task=("worker", 0)) -> str:
    cluster = {"worker": [f"127.0.0.1:{20000 + i}" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["127.0.0.1:19999"]
    return json.dumps({"cluster": cluster, "task": {"type": task[0], "index": task[1]}})


@pytest.mark.parametrize("name", [n for n in distribute.STRATEGIES if n != "auto"])
def test_resolve_name_keeps_concrete_names(clean_env, name):
    assert distribute.resolve_name(name) == name


def test_resolve_auto_on_this_machine(clean_env):
    gpus = len(tf.config.list_logical_devices("GPU"))  # 0 on the CPU-only CI machine: "default"
    assert distribute.resolve_name("auto") == {0: "default", 1: "one_device"}.get(gpus, "mirrored")


def test_resolve_auto_multi_worker_from_tf_config(clean_env):
    clean_env.setenv("TF_CONFIG", _tf_config(workers=2))
    assert distribute.resolve_name("auto") == "multi_worker"
    clean_env.setenv("TF_CONFIG", _tf_config(workers=1, chief=1))  # a chief counts as a worker
    assert distribute.resolve_name("auto") == "multi_worker"
    clean_env.setenv("TF_CONFIG", _tf_config(workers=1))  # one worker is no cluster
    assert distribute.resolve_name("auto") != "multi_worker"


def test_resolve_auto_tpu_from_environment(clean_env):
    clean_env.setenv("TPU_NAME", "my-tpu")
    assert distribute.resolve_name("auto") == "tpu"


def test_bad_tf_config_is_a_usage_error(clean_env):
    clean_env.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UsageError, match="TF_CONFIG"):
        distribute.resolve_name("auto")


@pytest.mark.parametrize("name", ["", "gpu", "Mirrored", "multi-worker"])
def test_unknown_strategy_is_a_usage_error(clean_env, name):
    with pytest.raises(UsageError, match="unknown strategy"):
        distribute.resolve_name(name)
    with pytest.raises(UsageError, match="unknown strategy"):
        distribute.get_strategy(name)


def test_tpu_without_a_tpu_is_a_usage_error(clean_env):
    with pytest.raises(UsageError, match="no TPU found"):
        distribute.get_strategy("tpu")


def test_tpu_name_without_a_tpu_is_a_usage_error(clean_env):
    # A TPU *name* is looked up on the GCE metadata server; point that at a closed local port so
    # the lookup fails at once (off Google Cloud it is a URLError, which must not escape).
    clean_env.setenv("TPU_NAME", "no-such-tpu")
    clean_env.setenv("GCE_METADATA_HOST", f"127.0.0.1:{_free_ports(1)[0]}")
    with pytest.raises(UsageError, match="no TPU found"):
        distribute.get_strategy("auto")


def test_cli_tpu_without_a_tpu_exits_2(clean_env, tmp_path, capsys):
    from dlsuite.cli import run

    out = tmp_path / "run"
    code = run(["image_classification", "train", "--dataset", "digits", "--strategy", "tpu",
                "--data-dir", str(tmp_path / "data"), "--output-dir", str(out), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "dlsuite: error: no TPU found" in err and "Traceback" not in err
    assert not out.exists()  # the strategy fails before any file is written


@pytest.mark.parametrize("name", ["default", "one_device", "mirrored"])
def test_single_worker_strategies_are_chief(clean_env, name):
    strategy = distribute.get_strategy(name)
    assert distribute.is_chief(strategy)
    assert distribute.worker_id(strategy) == "0"
    if name == "default":
        assert strategy is tf.distribute.get_strategy()
        assert strategy.num_replicas_in_sync == 1


@pytest.mark.parametrize(
    "workers, chief, task, is_chief, worker_id",
    [
        (2, 0, ("worker", 0), True, "worker-0"),  # no chief job: worker 0 is the chief
        (2, 0, ("worker", 1), False, "worker-1"),
        (2, 1, ("chief", 0), True, "chief-0"),
        (2, 1, ("worker", 0), False, "worker-0"),  # with a chief job, worker 0 is an ordinary worker
    ],
)
def test_is_chief_from_cluster_resolver(workers, chief, task, is_chief, worker_id):
    cluster = json.loads(_tf_config(workers, chief, task))["cluster"]
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task[0], task_id=task[1]
    )
    strategy = types.SimpleNamespace(cluster_resolver=resolver)
    assert distribute.is_chief(strategy) is is_chief
    assert distribute.worker_id(strategy) == worker_id


# --- end to end: mirrored on two logical CPUs, multi-worker on two processes --------------------


@pytest.fixture(scope="module")
def prepared_data(tmp_path_factory) -> str:
    """A data dir of this module's own with the embedded datasets prepared once, in this process,
    before any worker starts (so no two processes prepare the same TFDS files at once)."""
    from common.datasets import load_images, load_series

    path = str(tmp_path_factory.mktemp("tfds"))
    load_images("digits", path)
    load_series("sunspots", path)
    return path


def _env(data_dir: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TPU_NAME")}
    env.update(DLSUITE_DATA_DIR=data_dir, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **extra)
    return env


def _dlsuite() -> list[str]:
    script = Path(sys.executable).with_name("dlsuite")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "dlsuite"]


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _two_cpu_run(tmp_path: Path, data_dir: str, args: list[str]) -> dict:
    helper = tmp_path / "two_cpus.py"
    helper.write_text(TWO_CPUS)
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(helper), *args, "--strategy", "mirrored", "--output-dir", str(out), "--quiet"],
        cwd=REPO, env=_env(data_dir), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{_tail(proc.stdout)}\n{_tail(proc.stderr)}"
    assert not (out / ".workers").exists()
    return json.loads((out / "metrics.json").read_text())


def _epochs_logged(run: Path) -> int:
    with open(run / "training_log.csv", newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


@pytest.mark.slow
def test_mirrored_two_cpus_image_classification(tmp_path, prepared_data):
    metrics = _two_cpu_run(tmp_path, prepared_data, ["image_classification", "train", "--dataset", "digits",
                                                "--epochs", "2", *TINY_CNN])
    assert metrics["strategy"] == "mirrored"
    assert metrics["replicas"] == 2
    assert metrics["epochs"] == 2
    test = metrics["test"]
    assert math.isfinite(test["loss"])
    assert test["accuracy"] > 0.5, test  # chance is 0.1; this config reaches ~0.75-0.85
    assert (tmp_path / "run" / "model.keras").is_file()
    assert _epochs_logged(tmp_path / "run") == 2


@pytest.mark.slow
def test_mirrored_two_cpus_time_series(tmp_path, prepared_data):
    metrics = _two_cpu_run(tmp_path, prepared_data, ["time_series", "train", "--dataset", "sunspots",
                                                "--epochs", "2", *TINY_RNN])
    assert metrics["strategy"] == "mirrored"
    assert metrics["replicas"] == 2
    assert math.isfinite(metrics["test"]["mae"]) and math.isfinite(metrics["test"]["rmse"])
    assert "last_value" in metrics["baselines"]


def _free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_multi_worker_two_processes(tmp_path, prepared_data):
    out = tmp_path / "run"
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    command = [*_dlsuite(), "image_classification", "train", "--dataset", "digits", "--epochs", "2", *TINY_CNN,
               "--strategy", "multi_worker", "--output-dir", str(out), "--quiet"]
    procs, logs = [], []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            log = open(tmp_path / f"worker-{index}.log", "w+")
            logs.append(log)
            procs.append(subprocess.Popen(command, cwd=REPO, env=_env(prepared_data, TF_CONFIG=tf_config),
                                          stdout=log, stderr=subprocess.STDOUT, text=True))
        codes = [proc.wait(timeout=150) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        outputs = []
        for log in logs:
            log.seek(0)
            outputs.append(log.read())
            log.close()
    report = "\n".join(f"--- worker {i} (exit {p.returncode})\n{_tail(o)}" for i, (p, o) in enumerate(zip(procs, outputs)))
    assert codes == [0, 0], report

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["strategy"] == "multi_worker"
    assert metrics["replicas"] == 2
    assert metrics["epochs"] == 2
    assert math.isfinite(metrics["test"]["loss"])
    assert metrics["test"]["accuracy"] > 0.5, metrics["test"]
    assert (out / "model.keras").is_file() and (out / "checkpoints" / "best.keras").is_file()
    assert _epochs_logged(out) == 2  # only the chief logged: one row per epoch, not two
    assert not (out / ".workers").exists(), report  # the other worker's scratch dir is gone

    # Both workers evaluated the same synchronised model on the whole test split.
    lines = [[line for line in o.splitlines() if line.strip().startswith("model ")] for o in outputs]
    assert lines[0] and lines[0] == lines[1], report
