"""scripts/user_cases.py: every case is written, deterministically, and loads through its application's own loader."""

import hashlib
import importlib.util
import os
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "user_cases.py")


def load_user_cases():
    spec = importlib.util.spec_from_file_location("user_cases_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def digest(root) -> str:
    sha = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            sha.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as fh:
                sha.update(fh.read())
    return sha.hexdigest()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    user_cases = load_user_cases()
    out = tmp_path_factory.mktemp("cases")
    assert user_cases.main([str(out)]) == 0
    return user_cases, str(out)


def test_every_case_loads_through_its_application(written):
    from common.config import resolve_config
    from dlsuite.registry import get_app

    user_cases, out = written
    expected_sizes = {"textures": (3, 168), "photo_crops": (6, 240), "grey_scans": (6, 240), "nile": 100, "elnino": 732,
                      "unemployment": 203, "seattle_temp_max": 1461, "cars_origin": 406, "cars_mpg": 398,
                      "anes96_vote": 944, "fair_affairs": 6366}
    assert set(expected_sizes) == set(user_cases.CASE_NAMES)
    for case in user_cases.CASES:
        task = get_app(case.app)
        cfg = resolve_config(task.config_class, task.name, None, case.config(out), [])
        data = task.load_data(cfg)
        if case.app == "image_classification":
            classes, images = expected_sizes[case.name]
            assert data.num_classes == classes and sum(data.sizes.values()) == images, case.name
            assert tuple(data.image_shape) == (64, 64, 3)
        elif case.app == "time_series":
            assert len(data.values) == expected_sizes[case.name], case.name
        else:
            assert sum(len(frame) for frame in data.frames.values()) == expected_sizes[case.name], case.name
            assert data.task == ("regression" if case.name == "cars_mpg" else "classification"), case.name
            assert case.overrides["target"] not in data.frames["train"].columns


def test_writing_again_gives_the_same_bytes(written, tmp_path):
    user_cases, out = written
    assert user_cases.write_cases(str(tmp_path), ["textures", "nile", "fair_affairs"])
    for name in ("textures", "nile.csv", "fair_affairs.csv"):
        assert digest(os.path.join(out, name)) == digest(os.path.join(tmp_path, name)), name
    # Idempotent in place: a second write over the first leaves the same files, no stale ones.
    (tmp_path / "textures" / "brick" / "stale.png").write_bytes(b"")
    user_cases.write_cases(str(tmp_path), ["textures"])
    assert digest(os.path.join(out, "textures")) == digest(os.path.join(tmp_path, "textures"))


def test_targets_against_the_best_baseline_of_the_run():
    user_cases = load_user_cases()
    image, table = user_cases.get_case("textures"), user_cases.get_case("cars_origin")
    metrics = {"test": {"accuracy": 0.90}, "baselines": {"svc_rbf": {"accuracy": 0.91}}}
    assert user_cases.target(image, metrics, "accuracy", "higher")[1] is False
    metrics = {"test": {"accuracy": 0.90},
               "baselines": {"logistic_regression": {"accuracy": 0.85}, "hist_gradient_boosting": {"accuracy": 0.905}}}
    text, met, detail = user_cases.target(table, metrics, "accuracy", "higher")
    assert met and "hist_gradient_boosting" in detail
    metrics = {"test": {"mae": 2.03}, "baselines": {"linear_regression": {"mae": 2.0}, "hist_gradient_boosting": {"mae": 2.2}}}
    assert user_cases.target(user_cases.get_case("cars_mpg"), metrics, "mae", "lower")[1] is False  # > 1% worse
    metrics["test"]["mae"] = 2.019
    assert user_cases.target(user_cases.get_case("cars_mpg"), metrics, "mae", "lower")[1] is True
    series = {"test": {"mae": 10.0}, "baselines": {"last_value": {"mae": 12.0}, "arima": {"mae": 9.9}}}
    assert user_cases.target(user_cases.get_case("nile"), series, "mae", "lower")[1] is False


def test_command_line(capsys, tmp_path):
    user_cases = load_user_cases()
    assert user_cases.main(["--list"]) == 0
    assert "cars_origin\ttabular\tcars_origin.csv\t--set target=Origin" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        user_cases.main([str(tmp_path), "--only", "no_such_case"])
    assert exc.value.code == 2
