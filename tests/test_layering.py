"""The layout: one-way imports, one folder per application, every embedded dataset listed, runtime fields."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from apps.fundamentals.config import FundamentalsConfig
from apps.time_series.config import TimeSeriesConfig
from common.config import TrainConfig, resumable_keys, runtime_keys, runtime_settings
from dlsuite.registry import APPS, embedded_datasets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def loaded_apps(module: str) -> set[str]:
    """The application packages a fresh interpreter has loaded after importing `module`."""
    code = (f"import {module}, sys; "
            "print(' '.join(sorted({m.split('.')[1] for m in sys.modules if m.startswith('apps.')})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.slow
def test_importing_one_application_imports_only_that_application():
    assert loaded_apps("apps.rl.dqn") == {"rl"}
    assert loaded_apps("apps.sentiment.task") == {"sentiment"}


def test_shared_layers_import_no_application():
    for package in ("common", "tuning"):
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(folder, name), encoding="utf-8") as fh:
                        for line in fh:
                            words = line.split()
                            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                                assert words[1].split(".")[0] not in ("apps", "dlsuite"), (name, line)


def test_every_application_has_its_folder_and_readme():
    for name in APPS:
        folder = os.path.join(ROOT, "apps", name)
        assert os.path.isfile(os.path.join(folder, "__init__.py")), name
        assert os.path.isfile(os.path.join(folder, "README.md")), name


def test_list_shows_every_embedded_dataset(cli):
    found = embedded_datasets()
    for name in ("digits", "mnist5k", "sunspots", "co2", "vader_movies", "penguins", "digit_scenes",
                 "de_en_sentences", "bible_es_en", "lfw_subset", "chatterbot_corpus", "spoken_keywords", "spoken_digits"):
        assert name in found
    code, out, _ = cli("list")
    assert code == 0 and all(f"  {name} " in out for name in found)


def test_runtime_settings_are_declared_once_in_the_config():
    runtime = runtime_keys(TrainConfig)
    assert runtime == {"data_dir", "strategy", "tpu", "precision", "jit_compile", "deterministic",
                       "image_summary_every", "divergence_factor"}
    assert resumable_keys(TrainConfig) == runtime | {"epochs", "early_stopping_patience", "min_steps"}
    # an application that declares a field again (its own default and help) keeps the field's kind
    assert resumable_keys(TimeSeriesConfig) == resumable_keys(TrainConfig)
    assert runtime_keys(FundamentalsConfig) == runtime
    cfg = dataclasses.replace(TrainConfig(), strategy="one_device", data_dir="/tmp/x", seed=3)
    handed_on = runtime_settings(cfg)
    assert handed_on["strategy"] == "one_device" and handed_on["data_dir"] == "/tmp/x" and "seed" not in handed_on
