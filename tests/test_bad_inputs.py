"""Bad input is a one-line error with exit code 2 and nothing written: output paths that can't be written,
settings the model can't be built with, malformed TF_CONFIG, impossible integers, a corrupt model file."""

import pytest

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
