import glob
import os

import pytest
import tensorflow as tf

from conftest import TINY_CNN, read_json


def hparams_logged(log_dir):
    """True if some event file under log_dir carries TensorBoard HParams plugin data."""
    for path in glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    return True
    return False


@pytest.mark.slow
def test_tune_resumes_and_writes_a_trainable_best_config(cli, tmp_path):
    out = tmp_path / "tune"
    args = ["image_classification", "tune", "--dataset", "digits", "--epochs", "1", "--quiet", "--output-dir", out,
            *TINY_CNN]
    code, stdout, err = cli(*args, "--max-trials", "2")
    assert code == 0, err
    summary = read_json(out / "tuning_summary.json")
    assert len(summary["trials"]) == 2 and all(t["status"] == "COMPLETED" for t in summary["trials"])
    first_ids = {t["trial_id"] for t in summary["trials"]}
    assert hparams_logged(out / "logs")

    # Rerunning resumes: finished trials are kept and not repeated; raising the budget adds only the new ones.
    assert cli(*args, "--max-trials", "2")[0] == 0
    assert {t["trial_id"] for t in read_json(out / "tuning_summary.json")["trials"]} == first_ids
    assert cli(*args, "--max-trials", "3")[0] == 0
    trials = read_json(out / "tuning_summary.json")["trials"]
    assert len(trials) == 3 and first_ids < {t["trial_id"] for t in trials}

    best = read_json(out / "best_config.json")
    assert best["app"] == "image_classification"
    assert {k: best[k] for k in summary["best_hyperparameters"]} == summary["best_hyperparameters"]
    code, stdout, err = cli("image_classification", "train", "--config", out / "best_config.json", "--epochs", "1",
                            "--quiet", "--output-dir", tmp_path / "best")
    assert code == 0, err
    assert read_json(tmp_path / "best" / "config.json")["depth"] == best["depth"]


def test_empty_hyperparameters_build_the_configured_model():
    import keras_tuner

    from dlsuite.registry import get_app
    from common.config import resolve_config
    from tuning.search import AppHyperModel

    task = get_app("time_series")
    cfg = resolve_config(task.config_class, "time_series", sets=["units=24", "cell=lstm"])
    hypermodel = AppHyperModel(task, cfg, data=None, steps_per_epoch=1)
    assert hypermodel.config_for(keras_tuner.HyperParameters()) == cfg


def test_unknown_tuner_is_a_usage_error(cli, tmp_path):
    code, out, err = cli("time_series", "tune", "--tuner", "grid", "--output-dir", tmp_path / "t")
    assert code == 2 and "unknown tuner 'grid'" in err


def test_every_tuner_name_builds(tmp_path):
    import keras_tuner

    from dlsuite.registry import get_app
    from common.config import resolve_config
    from tuning.search import TUNERS, AppHyperModel, make_tuner

    task = get_app("time_series")
    cfg = resolve_config(task.config_class, "time_series")
    hypermodel = AppHyperModel(task, cfg, data=task.load_data(cfg), steps_per_epoch=1)  # tuners build once
    kinds = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization,
             "hyperband": keras_tuner.Hyperband}
    for name in TUNERS:
        tuner = make_tuner(name, hypermodel, "val_loss", 3, 4, str(tmp_path / name), 0, None)
        assert isinstance(tuner, kinds[name])


def test_hypermodel_fits_every_phase_of_a_phased_task():
    import keras
    import keras_tuner

    from dlsuite.registry import get_app
    from common.config import resolve_config
    from common.task import Phase
    from tuning.search import AppHyperModel

    base = get_app("image_classification")

    class TwoPhases(type(base)):
        def phases(self, cfg):
            def freeze_convolutions(model):
                for layer in model.layers:
                    layer.trainable = not isinstance(layer, keras.layers.Conv2D)

            def unfreeze(model):
                for layer in model.layers:
                    layer.trainable = True

            return [Phase("head", 1, prepare=freeze_convolutions), Phase("all", 2, 1e-4, prepare=unfreeze)]

    task = TwoPhases()
    cfg = resolve_config(task.config_class, task.name, sets=["dataset=digits", *TINY_CNN[1::2]])
    data = task.load_data(cfg)
    inputs = task.build_inputs(cfg, data)
    hypermodel = AppHyperModel(task, cfg, data, steps_per_epoch=20)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert not any(layer.trainable for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    history = hypermodel.fit(hp, model, inputs["train"].take(2), validation_data=inputs["validation"].take(1),
                             epochs=10, verbose=0)
    assert history.epoch == [1, 2]  # the second phase continues the epoch count; the tuner's epochs are ignored
    assert all(layer.trainable for layer in model.layers)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-4, rel=0.05)  # cosine-decayed a little
