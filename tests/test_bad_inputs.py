"""Bad input is a one-line error with exit code 2 and nothing written: output paths that can't be written,
settings the model can't be built with, malformed TF_CONFIG, impossible integers, a corrupt model file, and
`BAD_INPUTS`, a table of bad names, values, sizes, files and run dirs for every application."""

import json
import os
import re
import shlex
import shutil
import time

import numpy as np
import pytest

from conftest import write_png
from test_locking import TRAIN, one_line_error


def test_paths_that_cannot_be_written(tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for output, message in ((blocker, "is a file"), (blocker / "run", "is a file"),
                            ("/proc/dlsuite-run", "is not writable")):
        code, out, err = cli(*TRAIN, "--output-dir", output)
        assert code == 2 and one_line_error(err, message), err
    run = tmp_path / "run"
    assert cli(*TRAIN, "--output-dir", run)[0] == 0
    code, out, err = cli("time_series", "export", "--run", run, "--path", blocker)
    assert code == 2 and "is a file; give a folder for the export" in err, err


def test_rejected_settings_leave_no_run_dir(tmp_path, cli):
    run = tmp_path / "run"
    code, out, err = cli("image_classification", "train", "--dataset", "digits", "--epochs", "1", "--quiet",
                         "--set", "depth=6", "--output-dir", run)
    assert code == 2 and one_line_error(err, "depth"), err
    assert not run.exists()


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    ("[1, 2]", "TF_CONFIG must be a JSON object"),
    ('{"cluster": {"worker": ["localhost:1", "localhost:2"]}}', 'no "task"'),
    ('{"cluster": {"worker": "localhost:1"}}', "lists of"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}', "is not in its cluster"),
])
def test_malformed_tf_config_is_a_one_line_error(tmp_path, cli, monkeypatch, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    for strategy in ("auto", "multi_worker"):
        code, out, err = cli(*TRAIN, "--strategy", strategy, "--output-dir", tmp_path / "run")
        assert code == 2 and one_line_error(err, message), err
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [["--batch-size", "99999999999999999999"], ["--epochs", "99999999999999999999999"]])
def test_impossible_integers_are_refused_before_anything_is_written(tmp_path, cli, args):
    code, out, err = cli(*TRAIN, *args, "--output-dir", tmp_path / "run")
    assert code == 2 and one_line_error(err, "is too large"), err
    assert not (tmp_path / "run").exists()


def test_truncated_model_file_is_called_corrupt(tmp_path, cli):
    run = tmp_path / "run"
    assert cli(*TRAIN, "--output-dir", run)[0] == 0
    data = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(data[: len(data) // 2])
    code, out, err = cli("time_series", "evaluate", "--run", run)
    assert code == 2 and one_line_error(err, "is corrupt (not a complete .keras zip archive)"), err


# One row per bad input: (application, arguments, a fragment of the last stderr line). `{name}` stands for a
# file or folder of the `bad_files` fixture; `{stub}` is a finished run dir holding a placeholder model (enough
# to reach the checks of predict's inputs), `{no_model}` a run dir with a config and no model (an unfinished
# run), `{other_run}` one of another application. train and tune rows write to `--output-dir {out}` unless they
# name another one. Every row fails before a dataset is prepared or a model built, most in well under a second;
# a size that would fill memory (image_size=5000) is refused by the config's bounds before any image is read.
# Draft rows: (app, args, fragment). Placeholders {name} are files/folders made by the `inputs` fixture;
# train/tune rows get --output-dir {out} appended.
BAD_INPUTS = [
    # image_classification: names, values, sizes, files, run dirs and output paths
    ("image_classification", "train --dataset nosuch", "unknown dataset 'nosuch'"),
    ("image_classification", "train --set model=resnet", "model='resnet' is not one of: cnn, vit"),
    ("image_classification", "train --set nosuch=1", "unknown config key 'nosuch'"),
    ("image_classification", "train --set depth", "--set expects key=value"),
    ("image_classification", "train --set depth=two", "depth must be an integer"),
    ("image_classification", "train --set learning_rate=fast", "learning_rate must be a number"),
    ("image_classification", "train --epochs abc", "argument --epochs: invalid int value: 'abc'"),
    ("image_classification", "train --batch-size 0", "batch_size=0 must be >= 1"),
    ("image_classification", "train --epochs -1", "epochs=-1 must be >= 1"),
    ("image_classification", "train --seed -1", "seed=-1 must be >= 0"),
    ("image_classification", "train --strategy nosuch", "strategy='nosuch' is not one of"),
    ("image_classification", "train --set image_size=5000", "image_size=5000 is too large (at most 1024)"),
    ("image_classification", "train --set image_size=1", "image_size=1 is too small"),
    ("image_classification", "train --dataset {images} --set image_size=16 --set depth=6", "depth=6 pools 16x16"),
    ("image_classification", "train --dataset {images} --set image_size=16 --set model=vit --set patch_size=3",
     "patch_size=3 does not divide the 16x16 images"),
    ("image_classification", "train --set dropout=1.5", "dropout=1.5 must be in [0, 1)"),
    ("image_classification", "train --set channels=2", "channels=2 is not one of"),
    ("image_classification", "train --dataset /nonexistent", "dataset folder not found: /nonexistent"),
    ("image_classification", "train --dataset {empty}", "has no class sub-folders"),
    ("image_classification", "train --dataset {not_images}", "cannot read image"),
    ("image_classification", "train --dataset sunspots", "is a series dataset; this application needs an image"),
    ("image_classification", "train --dataset digits --data-dir {file}", "data dir {file} is a file"),
    ("image_classification", "train --dataset digits --data-dir /proc/dlsuite-data", "/proc is not writable"),
    ("image_classification", "train --config /nonexistent.yaml", "config file not found"),
    ("image_classification", "train --config {bad_yaml}", "is not valid YAML/JSON"),
    ("image_classification", "train --config {rl_yaml}", "is for application 'rl', not 'image_classification'"),
    ("image_classification", "train --output-dir {stub}", "holds a finished run"),
    ("image_classification", "train --output-dir {no_model}", "holds an unfinished run with other settings"),
    ("image_classification", "predict --run {no_model} {png}", "no trained model"),
    ("image_classification", "predict --run {stub} {text_png}", "cannot read image"),
    ("image_classification", "predict --run {stub} /nonexistent.png", "image not found: /nonexistent.png"),
    ("image_classification", "evaluate --run /nonexistent", "is /nonexistent a finished run directory"),
    ("image_classification", "evaluate --run {empty}", "config.json not found"),
    ("image_classification", "evaluate --run {other_run}", "is a 'rl' run, not 'image_classification'"),
    ("image_classification", "evaluate --run {stub} --dataset nosuch", "unknown dataset 'nosuch'"),
    ("image_classification", "export --run {no_model}", "no trained model"),
    ("image_classification", "export --run {stub} --path {file}", "is a file; give a folder for the export"),
    ("image_classification", "export --run {stub} --format preset", "needs a run whose model is a KerasHub task"),
    ("image_classification", "tune --output-dir {file}", "output dir {file} is a file"),
    ("image_classification", "tune --output-dir {stub}", "holds a training run"),
    ("image_classification", "tune --tuner grid", "unknown tuner 'grid'"),
    ("image_classification", "tune --max-trials 0", "--max-trials must be >= 1"),
    # time_series
    ("time_series", "train --dataset {bad_columns_csv}", "name the value column"),
    ("time_series", "train --dataset {nan_csv}", "fewer than two numbers"),
    ("time_series", "train --dataset {text_value_csv}", "has a non-numeric value 'abc' on data row 3"),
    ("time_series", "train --dataset {binary_txt}", "cannot read CSV"),
    ("time_series", "train --dataset {empty}", "is a folder; give a CSV file"),
    ("time_series", "train --dataset {series_csv} --set column=nosuch", "has no column 'nosuch'"),
    ("time_series", "train --dataset /nonexistent.csv", "CSV file not found"),
    ("time_series", "train --dataset tfds:mnist", "time series come from an embedded name or a CSV file"),
    ("time_series", "train --dataset mnist5k", "is an image dataset; this application needs a series dataset"),
    ("time_series", "train --set cell=transformer", "cell='transformer' is not one of"),
    ("time_series", "train --set arima_order=[1,2]", "arima_order=(1, 2) must be three"),
    ("time_series", "train --set units=0", "units=0 must be >= 1"),
    ("time_series", "train --dataset {series_csv} --set horizon=1000", "horizon=1000 is longer than the training part"),
    ("time_series", "predict --run {stub} {nan_csv}", "fewer than two numbers"),
    ("time_series", "predict --run {stub} {series_csv} {series_csv}", "at most one CSV file"),
    # transfer_learning
    ("transfer_learning", "train --set backbone=vgg16", "backbone='vgg16' is not one of"),
    ("transfer_learning", "train --set shots=0", "shots=0 must be >= 1"),
    ("transfer_learning", "train --set margin=0.7", "margin=0.7 must be below 0.5"),
    ("transfer_learning", "train --set application_image_size=5000", "application_image_size=5000 is too large"),
    ("transfer_learning", "train --set weights=imagenet", "weights is for keras.applications backbones"),
    ("transfer_learning", "train --backbone-run /nonexistent", "backbone run not found: /nonexistent"),
    ("transfer_learning", "train --backbone-run {no_model}", "is not a finished run (no metrics.json)"),
    ("transfer_learning", "train --set 'pretrain={nosuch: 1}'", "unknown config key 'nosuch' for image_classification"),
    ("transfer_learning", "train --dataset {empty}", "has no class sub-folders"),
    ("transfer_learning", "train --dataset {not_images}", "cannot read image"),
    # object_detection
    ("object_detection", "train --set image_size=100", "image_size=100 must be a multiple of 16"),
    ("object_detection", "train --set image_size=8000", "image_size=8000 is too large (at most 1024)"),
    ("object_detection", "train --dataset nosuch", "unknown detection dataset 'nosuch'"),
    ("object_detection", "train --dataset {empty}", "unknown detection dataset"),
    ("object_detection", "train --set score_threshold=1.5", "score_threshold=1.5 must be in [0, 1)"),
    ("object_detection", "train --set max_objects=0", "max_objects=0 must be >= 1"),
    ("object_detection", "predict --run {stub} {text_png}", "cannot read image"),
    ("object_detection", "export --run {stub} --path {file}", "is a file; give a folder for the export"),
    # face_detection
    ("face_detection", "train --dataset nosuch", "dataset='nosuch' is not one of: lfw_subset"),
    ("face_detection", "train --set threshold=2", "threshold=2.0, nms_iou=0.3 and calibration_recall=0.8 must be"),
    ("face_detection", "train --set max_face=10", "max_face=10 is smaller than min_face=24"),
    ("face_detection", "train --set scale_step=1", "scale_step=1.0 must be >= 1.01"),
    ("face_detection", "predict --run {stub} {text_png}", "cannot read image"),
    ("face_detection", "predict --run {stub} nosuch_photo", "image not found: nosuch_photo"),
    # face_recognition
    ("face_recognition", "train --set images_per_person=3", "must be a multiple of images_per_person=3"),
    ("face_recognition", "train --set image_size=4", "image_size=4 is too small"),
    ("face_recognition", "train --set image_size=5000", "image_size=5000 is too large (at most 1024)"),
    ("face_recognition", "train --dataset /nonexistent", "dataset '/nonexistent' is neither tfds:NAME"),
    ("face_recognition", "train --dataset {empty}", "holds no images in person sub-folders"),
    ("face_recognition", "train --dataset {not_images}", "cannot read image"),
    ("face_recognition", "train --set center_crop=2", "center_crop=2.0 must be in (0, 1]"),
    ("face_recognition", "predict --run {stub} {png}", "predict takes two face images"),
    ("face_recognition", "predict --run {stub} /nonexistent.png {png}", "image not found: /nonexistent.png"),
    # language_model
    ("language_model", "train --dataset /nonexistent.txt", "dataset not found: /nonexistent.txt"),
    ("language_model", "train --dataset {empty}", "holds no .txt files"),
    ("language_model", "train --dataset {binary_txt}", "is not UTF-8 text"),
    ("language_model", "train --set mask_rate=0", "mask_rate=0.0 must be in (0, 1)"),
    ("language_model", "train --set hidden_dim=129", "hidden_dim=129 must be a multiple of num_heads=2"),
    ("language_model", "train --preset {empty}", "is not a KerasHub preset folder"),
    ("language_model", "predict --run {no_model} hello", "no trained model"),
    # sentiment
    ("sentiment", "train --dataset {bad_columns_csv}", "has no column 'text', 'label'"),
    ("sentiment", "train --dataset /nonexistent.csv", "dataset not found: /nonexistent.csv"),
    ("sentiment", "train --dataset {empty}", "has no class sub-folders"),
    ("sentiment", "train --dataset {binary_txt}", "is not UTF-8 text"),
    ("sentiment", "train --set model=cnn", "model='cnn' is not one of"),
    ("sentiment", "train --set embed_dim=130", "embed_dim=130 must be a multiple of heads=4"),
    ("sentiment", "train --set sequence_length=0", "sequence_length=0 must be >= 1"),
    ("sentiment", "predict --run {no_model} good", "no trained model"),
    ("sentiment", "predict --run {stub} ''", "predict got an empty sentence"),
    # text_generation
    ("text_generation", "train --dataset /nonexistent.txt", "text file not found: /nonexistent.txt"),
    ("text_generation", "train --dataset {empty_txt}", "is empty"),
    ("text_generation", "train --dataset {empty}", "is a folder; give a text file"),
    ("text_generation", "train --dataset {tiny_txt}", "fewer than sequence_length + 1"),
    ("text_generation", "train --dataset {binary_txt}", "is not UTF-8 text"),
    ("text_generation", "train --set top_p=0", "top_p=0.0 must be in (0, 1]"),
    ("text_generation", "train --set model=gpt --set embed_dim=130", "embed_dim=130 must be a multiple of heads=4"),
    ("text_generation", "generate --run {no_model}", "no trained model"),
    ("text_generation", "generate --run {stub} --length -5", "length=-5 must be >= 1"),
    ("text_generation", "generate --run {stub} --temperature -1", "temperature=-1.0 must be >= 0"),
    # translation
    ("translation", "train --set direction=german", "unknown direction 'german'"),
    ("translation", "train --dataset nosuch", "unknown dataset 'nosuch'"),
    ("translation", "train --dataset /nonexistent.tsv", "TSV file not found: /nonexistent.tsv"),
    ("translation", "train --dataset {bad_tsv}", "expected 2 tab-separated columns"),
    ("translation", "train --dataset {binary_txt}", "is not UTF-8 text"),
    ("translation", "train --dataset {empty_txt}", "has no sentence pairs"),
    ("translation", "train --dataset {empty}", "is a folder; give a TSV file"),
    ("translation", "train --set beam_size=0", "beam_size=0 must be >= 1"),
    ("translation", "translate --run {no_model} Hallo", "no trained model"),
    ("translation", "translate --run {stub}", "translate needs sentences"),
    ("translation", "translate --run {stub} Hallo --beam-size 0", "--beam-size must be >= 1"),
    # rl
    ("rl", "train --dataset NoSuchEnv-v0", "unknown gymnasium environment 'NoSuchEnv-v0'"),
    ("rl", "train --set agent=a2c", "agent='a2c' is not one of"),
    ("rl", "train --set agent=sac --dataset CartPole-v1", "sac needs an environment with continuous actions"),
    ("rl", "train --dataset Pendulum-v1", "dqn needs an environment with discrete actions"),
    ("rl", "train --set agent=alphazero --dataset nosuch_game", "unknown open_spiel game 'nosuch_game'"),
    ("rl", "train --set agent=alphazero --dataset CartPole-v1", "unknown open_spiel game 'CartPole-v1'"),
    ("rl", "train --set gamma=1.5", "gamma=1.5 must be in (0, 1]"),
    ("rl", "train --set total_steps=-1", "total_steps=-1 must be >= 0"),
    ("rl", "play --run {no_model}", "no trained model"),
    ("rl", "predict --run {stub} a,b", "an observation is comma-separated numbers"),
    # tabular
    ("tabular", "train --dataset {bad_columns_csv}", "has no target column 'species'"),
    ("tabular", "train --dataset {nan_target_csv} --set target=y", "target column 'y'"),
    ("tabular", "train --dataset {binary_txt}", "cannot read CSV"),
    ("tabular", "train --dataset {empty}", "is a folder; give a CSV file"),
    ("tabular", "train --set task_type=clustering", "task_type='clustering' is not one of"),
    ("tabular", "train --dataset {table_csv} --set target=y --set categorical_columns=[nosuch]",
     "categorical_columns names 'nosuch', not columns of"),
    ("tabular", "train --dataset {table_csv} --set target=y --set drop_columns=[y]", "also in drop_columns"),
    ("tabular", "train --dataset /nonexistent.csv", "CSV file not found: /nonexistent.csv"),
    ("tabular", "predict --run {stub}", "predict needs a CSV of rows"),
    ("tabular", "predict --run {stub} {empty_txt}", "cannot read CSV"),
    # gan
    ("gan", "train --set loss=hinge", "loss='hinge' is not one of"),
    ("gan", "train --set image_size=5000", "image_size=5000 is too large (at most 1024)"),
    ("gan", "train --set image_size=1", "image_size=1: the GAN upsamples twice by 2"),
    ("gan", "train --set image_size=30", "so image sides must be multiples of 4"),
    ("gan", "train --dataset {empty}", "has no class sub-folders"),
    ("gan", "train --dataset {not_images}", "cannot read image"),
    ("gan", "train --set latent_dim=0", "latent_dim=0 must be >= 1"),
    ("gan", "train --dataset {images} --classifier-run /nonexistent", "classifier run not found: /nonexistent"),
    ("gan", "generate --run {no_model}", "no trained model"),
    ("gan", "generate --run {stub} --count 0", "--count must be >= 1"),
    # fundamentals
    ("fundamentals", "train --set study=quantum", "study='quantum' is not one of"),
    ("fundamentals", "train --strategy mirrored", "one at a time"),
    ("fundamentals", "train --set learning_rates=[0]", "learning_rates must be in (0, 10]"),
    ("fundamentals", "train --set widths=[0]", "widths >= 1"),
    ("fundamentals", "train --set activations=[]", "activations is empty"),
    ("fundamentals", "train --dataset sunspots", "is a series dataset"),
    ("fundamentals", "train --dataset {not_images}", "cannot read image"),
    # style_transfer
    ("style_transfer", "train --set image_size=5000", "image_size=5000 is too large (at most 2048)"),
    ("style_transfer", "train --set train_size=30", "train_size=30 must be a multiple of 4"),
    ("style_transfer", "train --content /nonexistent.png", "image not found: /nonexistent.png"),
    ("style_transfer", "train --content {text_png}", "cannot read image"),
    ("style_transfer", "train --style nosuch_style", "'nosuch_style' is neither an image file nor"),
    ("style_transfer", "train --weights /nonexistent.h5", "weights file not found: /nonexistent.h5"),
    ("style_transfer", "train --weights {text_png}", "VGG19 failed loading"),
    ("style_transfer", "train --set extractor_widths=[]", "extractor_widths needs at least one stage"),
    ("style_transfer", "train --dataset /nonexistent", "is neither `photos` nor a folder of image files"),
    ("style_transfer", "train --dataset {empty}", "holds no images"),
    ("style_transfer", "train --dataset {not_images}", "holds no images"),
    ("style_transfer", "stylize --run {no_model}", "no trained model"),
    ("style_transfer", "predict --run {stub} /nonexistent.png", "image not found: /nonexistent.png"),
    # chatbot
    ("chatbot", "train --set language=klingon", "unknown language 'klingon'"),
    ("chatbot", "train --dataset nosuch", "unknown dataset 'nosuch'"),
    ("chatbot", "train --dataset {bad_tsv}", "expected 2 tab-separated columns"),
    ("chatbot", "train --dataset {binary_txt}", "is not UTF-8 text"),
    ("chatbot", "train --dataset {empty}", "is a folder; give a TSV file"),
    ("chatbot", "train --set model=transformer --set embed_dim=130", "embed_dim=130 must be a multiple of heads=4"),
    ("chatbot", "train --set fallback=maybe", "fallback='maybe' must be auto, off or a number"),
    ("chatbot", "train --preset dlsuite:bert_small_en", "the suite's own masked-LM encoder (language_model)"),
    ("chatbot", "chat --run {no_model} hello", "no trained model"),
    ("chatbot", "chat --run {stub} --beam-size 0", "--beam-size must be >= 1"),
    # keyword_spotting
    ("keyword_spotting", "train --dataset nosuch", "unknown keyword dataset 'nosuch'"),
    ("keyword_spotting", "train --dataset {empty}", "unknown keyword dataset"),
    ("keyword_spotting", "train --dataset spoken_keywords/nosuch", "has no config 'nosuch'"),
    ("keyword_spotting", "train --set model=lstm", "model='lstm' is not one of"),
    ("keyword_spotting", "train --set num_mel_bins=0", "num_mel_bins=0 must be >= 8"),
    ("keyword_spotting", "predict --run {no_model} {not_wav}", "no trained model"),
    ("keyword_spotting", "predict --run {stub} {not_wav}", "is not a readable WAV file"),
    ("keyword_spotting", "listen --run {stub} {not_wav}", "is not a readable WAV file"),
    ("keyword_spotting", "listen --run {stub} {not_wav} --threshold 2", "--threshold must be in [0, 1]"),
    ("keyword_spotting", "listen --run {stub} {not_wav} --hop-ms 5", "--hop-ms at least 10"),
    # speech_recognition
    ("speech_recognition", "train --dataset nosuch", "unknown speech recognition dataset 'nosuch'"),
    ("speech_recognition", "train --dataset {empty}", "unknown speech recognition dataset"),
    ("speech_recognition", "train --set decoder=ctc", "decoder='ctc' is not one of"),
    ("speech_recognition", "train --set beam_width=0", "beam_width=0 must be >= 1"),
    ("speech_recognition", "predict --run {stub} {not_wav}", "is not a readable WAV file"),
    ("speech_recognition", "predict --run {stub} {empty_wav}", "is empty (0 bytes)"),
    ("speech_recognition", "predict --run {stub} /nonexistent.wav", "no such WAV file: /nonexistent.wav"),
]


BAD_FILES = {  # placeholder: (file name, its text; None for an empty folder)
    "empty": ("empty", None),
    "file": ("file", "not a folder\n"),
    "bad_yaml": ("bad.yaml", "epochs: [1,\n"),
    "rl_yaml": ("rl.yaml", "app: rl\nepochs: 1\n"),
    "text_png": ("text.png", "not an image\n"),
    "bad_columns_csv": ("bad_columns.csv", "name,city\n" + "".join(f"p{i},c{i}\n" for i in range(30))),
    "nan_csv": ("nan.csv", "value\nnan\n\n1\n"),
    "text_value_csv": ("text_value.csv", "value\n1\n2\nabc\n4\n"),
    "series_csv": ("series.csv", "value\n" + "".join(f"{np.sin(i / 3):.4f}\n" for i in range(40))),
    "table_csv": ("table.csv", "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(30))),
    "nan_target_csv": ("nan_target.csv", "x,y\n" + "".join(f"{i},\n" for i in range(30))),
    "empty_txt": ("empty.txt", ""),
    "tiny_txt": ("tiny.txt", "hello\n"),
    "bad_tsv": ("bad.tsv", "one column only\nand another line\n"),
    "not_wav": ("not.wav", "not a wav file\n"),
    "empty_wav": ("empty.wav", ""),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """{placeholder: path} of the table's files and folders (made once; the rows must leave them as they are)."""
    root = tmp_path_factory.mktemp("bad_inputs")
    paths = {}
    for name, (file_name, text) in BAD_FILES.items():
        path = root / file_name
        if text is None:
            path.mkdir()
        else:
            path.write_text(text)
        paths[name] = str(path)
    (root / "binary.txt").write_bytes(b"\xff\xfe\x00bad utf-8 " * 10)
    paths["binary_txt"] = str(root / "binary.txt")
    rng = np.random.default_rng(0)
    for label in ("a", "b"):  # a class-folder image set of 2 x 6 noise images, and one of files that are not images
        for k in range(6):
            write_png(str(root / "images" / label / f"{k}.png"), rng.integers(0, 255, (16, 16, 3)))
            os.makedirs(root / "not_images" / label, exist_ok=True)
            (root / "not_images" / label / f"{k}.png").write_text("not an image\n")
    paths.update(images=str(root / "images"), not_images=str(root / "not_images"),
                 png=str(root / "images" / "a" / "0.png"))
    model_dir = root / "placeholder_model"
    model_dir.mkdir()
    import keras

    inputs = keras.Input((8, 8, 1))
    keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs))).save(str(model_dir / "model.keras"))
    paths["placeholder_model"] = str(model_dir / "model.keras")
    return paths


def _tree(*roots) -> dict:
    """Every folder and file under `roots`, each file with its size and modification time: what a row must
    leave as it was (a folder's own time changes when a write check's probe file comes and goes)."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            found.update({os.path.join(folder, name): None for name in dirs})
            for name in files:
                stat = os.stat(os.path.join(folder, name))
                found[os.path.join(folder, name)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.mark.parametrize("app, args, message", BAD_INPUTS, ids=[f"{a}-{b}" for a, b, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, cli, bad_files, app, args, message):
    runs = tmp_path / "runs"
    for name in ("stub", "no_model"):
        (runs / name).mkdir(parents=True)
        (runs / name / "config.json").write_text(json.dumps({"app": app}))
    (runs / "other_run").mkdir()
    (runs / "other_run" / "config.json").write_text(json.dumps({"app": "rl"}))
    (runs / "stub" / "metrics.json").write_text(json.dumps({"app": app, "data": {"class_names": ["a", "b"]}}))
    shutil.copy(bad_files["placeholder_model"], runs / "stub" / "model.keras")
    out = tmp_path / "out"
    paths = {**bad_files, **{name: str(runs / name) for name in ("stub", "no_model", "other_run")}, "out": str(out)}
    words = [re.sub(r"\{(\w+)\}", lambda m: paths.get(m.group(1), m.group(0)), w) for w in shlex.split(args)]
    if words[0] in ("train", "tune") and "--output-dir" not in words:
        words += ["--output-dir", str(out)]
    before = _tree(runs, os.path.dirname(bad_files["empty"]))
    start = time.perf_counter()
    code, stdout, err = cli(app, *words, *(["--quiet"] if words[0] in ("train", "tune") else []))
    seconds = time.perf_counter() - start
    assert code == 2, err
    assert "Traceback" not in stdout + err
    last = err.strip().splitlines()[-1]
    assert re.match(r"dlsuite[\w. ]*: error: ", last) and message.format(**paths) in last, err  # argparse's too
    assert not out.exists()
    assert _tree(runs, os.path.dirname(bad_files["empty"])) == before
    assert seconds < 10, f"took {seconds:.1f} s: a bad input should fail before data is prepared or a model built"


def test_the_table_covers_every_application():
    from dlsuite.registry import APPS

    assert {app for app, _, _ in BAD_INPUTS} == set(APPS)
    assert len(BAD_INPUTS) >= 60 and len(set(BAD_INPUTS)) == len(BAD_INPUTS)
