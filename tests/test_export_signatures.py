"""The signatures a serving client sees: `dlsuite APP export` writes a SavedModel whose `serving_default` returns
named outputs (a classifier's `probabilities`, `label` and `class_name`, with the run's class names inside the
graph; a regressor's `prediction`; a detector's decoded boxes at the score `predict` shows; a recogniser's
`transcript`, decoded as `predict` decodes), takes 1-D batches of texts and table columns, and agrees with
`dlsuite APP predict`. Where it matters, the SavedModel is loaded in a fresh Python process, as a client would.
The detector's and the recogniser's exports are checked against `predict` in the end-to-end tests of
test_object_detection.py and test_speech.py, which train those runs anyway."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import tensorflow as tf

from conftest import TINY_CNN, read_json, write_png
from test_sentiment import TINY_TEXT, review_rows, write_csv
from test_tabular import TINY, measurements

SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
path, batches = sys.argv[1], json.loads(sys.stdin.read())
serve = tf.saved_model.load(path).signatures["serving_default"]
def tensor(values):
    flat = np.asarray(values, dtype=object).ravel()
    return tf.constant(values, tf.string if any(isinstance(v, str) for v in flat) else tf.float32)
answers = []
for batch in batches:
    out = serve(**{name: tensor(values) for name, values in batch.items()})
    answers.append({k: np.char.decode(v.numpy().astype(bytes)).tolist() if v.dtype == tf.string else v.numpy().tolist()
                    for k, v in out.items()})
print(json.dumps(answers))
"""


def serve_in_fresh_process(path, *batches) -> list[dict]:
    """`serving_default` of the SavedModel at `path` on each batch ({input name: nested lists}), called in a new
    Python process that imports TensorFlow alone (no suite code, no Keras classes registered)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-c", SERVE, str(path)], input=json.dumps(batches), capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def check_classifier(outputs: dict, class_names: list[str]) -> None:
    assert {"probabilities", "label", "class_name"} <= set(outputs)
    probabilities, labels = np.asarray(outputs["probabilities"]), np.asarray(outputs["label"])
    np.testing.assert_array_equal(labels, probabilities.argmax(axis=-1))
    assert list(outputs["class_name"]) == [class_names[i] for i in labels]


def test_image_classifier_returns_named_outputs_that_agree_with_predict(cli, tmp_path):
    from common.datasets import load_images

    run = tmp_path / "run"
    code, out, err = cli("image_classification", "train", "--dataset", "digits", "--epochs", "1", "--quiet",
                         "--output-dir", run, *TINY_CNN, "--set", "baseline_max_samples=0")
    assert code == 0, err
    class_names = read_json(run / "metrics.json")["data"]["class_names"]
    images = np.stack([x for x, _ in load_images("digits").test.take(6).as_numpy_iterator()]).astype(np.uint8)
    paths = [str(tmp_path / f"digit{i}.png") for i in range(len(images))]
    for path, image in zip(paths, images):
        write_png(path, image[..., 0])
    code, out, err = cli("image_classification", "predict", "--run", run, *paths)
    assert code == 0, err
    predicted = records(out)
    code, out, err = cli("image_classification", "export", "--run", run)
    assert code == 0, err

    served = tf.saved_model.load(str(run / "saved_model"))
    signature = served.signatures["serving_default"]
    assert set(signature.structured_outputs) == {"probabilities", "label", "class_name"}
    assert signature.structured_outputs["label"].dtype == tf.int64
    outputs = {k: v.numpy() for k, v in signature(tf.constant(images.astype(np.float32))).items()}
    outputs["class_name"] = [name.decode() for name in outputs["class_name"]]
    check_classifier(outputs, class_names)
    assert outputs["class_name"] == [r["label"] for r in predicted]
    np.testing.assert_allclose(outputs["probabilities"].max(axis=1), [r["probability"] for r in predicted], atol=1e-4)


def test_sentiment_takes_a_1d_batch_of_strings_in_a_fresh_process(cli, tmp_path):
    reviews = write_csv(tmp_path / "reviews.csv", review_rows())
    run = tmp_path / "run"
    code, out, err = cli("sentiment", "train", "--dataset", reviews, "--epochs", "1", "--quiet", "--output-dir", run,
                         *TINY_TEXT)
    assert code == 0, err
    class_names = read_json(run / "metrics.json")["data"]["class_names"]
    texts = ["the film was great", "dull and clumsy", "a moving and funny story"]
    code, out, err = cli("sentiment", "predict", "--run", run, *texts)
    assert code == 0, err
    predicted = records(out)
    code, out, err = cli("sentiment", "export", "--run", run)
    assert code == 0, err

    flat, column = serve_in_fresh_process(run / "saved_model", {"text": texts}, {"text": [[t] for t in texts]})
    check_classifier(flat, class_names)
    assert flat["class_name"] == [r["label"] for r in predicted]
    np.testing.assert_allclose(np.max(flat["probabilities"], axis=1), [r["probability"] for r in predicted], atol=1e-4)
    np.testing.assert_allclose(column["probabilities"], flat["probabilities"], atol=1e-6)  # [n, 1] still works


def test_tabular_takes_1d_columns_and_agrees_with_predict(cli, tmp_path):
    table = tmp_path / "table.csv"
    measurements().to_csv(table, index=False)
    run = tmp_path / "run"
    code, out, err = cli("tabular", "train", "--dataset", table, "--target", "kind", "--epochs", "2", "--quiet",
                         "--output-dir", run, *TINY)
    assert code == 0, err
    summary = read_json(run / "metrics.json")["data"]
    rows = pd.DataFrame({"colour": ["red", "", "blue"], "width": [8.0, 12.5, np.nan], "height": [20.0, np.nan, 18.0],
                         "grade": [np.nan, 2.0, 1.0], "size": [np.nan, 30.0, 25.0]})
    rows.to_csv(tmp_path / "rows.csv", index=False)
    code, out, err = cli("tabular", "predict", "--run", run, tmp_path / "rows.csv")
    assert code == 0, err
    predicted = records(out)
    code, out, err = cli("tabular", "export", "--run", run)
    assert code == 0, err

    from apps.tabular.model import input_name

    columns = {input_name(c): [None if pd.isna(v) else v for v in rows[c]] for c in summary["numeric"]}
    columns = {k: [float("nan") if v is None else float(v) for v in values] for k, values in columns.items()}
    columns.update({input_name(c): list(rows[c]) for c in summary["categorical"]})
    flat, column = serve_in_fresh_process(run / "saved_model", columns,
                                          {k: [[v] for v in values] for k, values in columns.items()})
    check_classifier(flat, summary["class_names"])
    assert flat["class_name"] == [r["prediction"] for r in predicted]
    np.testing.assert_allclose(np.max(flat["probabilities"], axis=1), [r["probability"] for r in predicted], atol=1e-4)
    np.testing.assert_allclose(column["probabilities"], flat["probabilities"], atol=1e-6)


def test_tabular_regressor_returns_a_named_prediction_per_row(tmp_path):
    from apps.tabular.model import build_tabular_mlp, input_name, learn_preprocessing, model_inputs
    from apps.tabular.task import Tabular
    from common.export import export_saved_model

    train = pd.DataFrame({"x": [2.0, 4.0, np.nan, 5.0], "c": ["a", "b", "", "a"]})
    model = build_tabular_mlp(learn_preprocessing(train, ["x"], ["c"]), 0, units=4, target_mean=10.0, target_std=2.0)
    summary = {"task": "regression", "class_names": [], "numeric": ["x"], "categorical": ["c"]}
    path = export_saved_model(model, str(tmp_path / "saved"), postprocess=lambda out: Tabular().serving_outputs(
        None, out, summary))
    signature = tf.saved_model.load(path).signatures["serving_default"]
    rows = pd.DataFrame({"x": [np.nan, 3.0, 7.5], "c": ["", "zebra", "a"]})
    outputs = signature(**{input_name("x"): tf.constant(rows["x"].to_numpy(np.float32)),
                           input_name("c"): tf.constant(rows["c"].to_numpy(object).astype(str))})
    assert set(outputs) == {"prediction"} and outputs["prediction"].shape == (3,)
    expected = model.predict(model_inputs(rows, ["x"], ["c"]), verbose=0)[:, 0]
    np.testing.assert_allclose(outputs["prediction"].numpy(), expected, rtol=1e-5)


def test_forecaster_returns_a_named_prediction_equal_to_predict(cli, tmp_path):
    from conftest import TINY_RNN

    run = tmp_path / "run"
    code, out, err = cli("time_series", "train", "--epochs", "1", "--quiet", "--output-dir", run, *TINY_RNN)
    assert code == 0, err
    code, out, err = cli("time_series", "predict", "--run", run)
    assert code == 0, err
    forecast = [r["forecast"] for r in records(out)]
    code, out, err = cli("time_series", "export", "--run", run)
    assert code == 0, err

    from common.datasets import load_series

    values = load_series(read_json(run / "config.json")["dataset"]).values  # predict forecasts from its end
    served = tf.saved_model.load(str(run / "saved_model"))
    signature = served.signatures["serving_default"]
    window = signature.structured_input_signature[1]["window"].shape[1]
    outputs = signature(window=tf.constant(values[None, -window:].astype(np.float32)))
    assert set(outputs) == {"prediction"}
    np.testing.assert_allclose(outputs["prediction"].numpy()[0], forecast, atol=1e-4)


def test_speech_export_decodes_with_predicts_beam_search_into_words():
    """On logits where greedy and beam-search decoding differ, the exported `transcript` is the beam search's
    (what `predict` uses by default), in words."""
    from apps.speech_recognition.config import SpeechRecognitionConfig
    from apps.speech_recognition.data import labels_to_text
    from apps.speech_recognition.model import decode
    from apps.speech_recognition.task import SpeechRecognition

    cfg = SpeechRecognitionConfig(beam_width=4)
    assert cfg.decoder == "beam"
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, (64, 6, 11)).astype(np.float32)
    greedy = [labels_to_text(x) for x in decode(logits, strategy="greedy")]
    beam = [labels_to_text(x) for x in decode(logits, strategy="beam", beam_width=cfg.beam_width)]
    assert greedy != beam  # the logits tell the two decoders apart
    serve = tf.function(lambda x: SpeechRecognition().serving_outputs(cfg, x, {"vocabulary": []}))
    outputs = serve(tf.constant(logits))
    assert [t.decode() for t in outputs["transcript"].numpy()] == beam


def test_detector_serves_the_detections_predict_shows_with_their_class_names():
    """Maps of four objects scored 0.9, 0.9, 0.5 and 0.2: the export returns the three of at least `display_score`
    (0.3), those `predict` keeps, not every one down to the mAP's `score_threshold` (0.05)."""
    from apps.object_detection.boxes import decode, encode
    from apps.object_detection.config import ObjectDetectionConfig
    from apps.object_detection.task import ObjectDetection, shown_score

    boxes = np.array([[0.10, 0.10, 0.50, 0.30], [0.52, 0.60, 0.90, 0.95], [0.0, 0.0, 0.2, 0.1], [0.3, 0.7, 0.45, 0.83]])
    maps = encode(boxes.astype(np.float32), np.array([2, 2, 7, 0]), (96, 96), num_classes=10)
    scale = np.ones(10, np.float32)
    scale[[2, 0, 7]] = 0.9, 0.5, 0.2
    maps = {"heatmap": maps["heatmap"][None] * scale, "size": maps["size"][None], "offset": maps["offset"][None]}
    cfg = ObjectDetectionConfig()
    names = [f"digit {i}" for i in range(10)]
    served = tf.function(lambda m: ObjectDetection().serving_outputs(cfg, m, {"class_names": names}))(maps)
    assert set(served) == {"boxes", "scores", "classes", "class_names", "num_detections"}
    found = decode(maps["heatmap"], maps["size"], maps["offset"], score_threshold=cfg.score_threshold)
    shown = found["scores"][0].numpy() >= shown_score(cfg)  # what predict prints
    assert int(found["num_detections"][0]) == 4 and shown.sum() == 3
    n = int(served["num_detections"][0])
    assert n == 3 and shown_score(cfg) == cfg.display_score == 0.3
    np.testing.assert_allclose(served["scores"][0, :n], found["scores"][0].numpy()[shown], atol=1e-6)
    np.testing.assert_allclose(served["boxes"][0, :n], found["boxes"][0].numpy()[shown], atol=1e-6)
    labels = [names[c] for c in found["classes"][0].numpy()[shown]]
    assert [x.decode() for x in served["class_names"][0].numpy()] == labels + [""] * (cfg.max_detections - 3)



def test_policies_generators_and_stylisers_export_named_outputs(tmp_path):
    """rl exports `action` (DQN with `q_values`, PPO with `logits` and `value`), gan `images`, style_transfer
    `image`: no `output_0` left."""
    from apps.rl.networks import build_actor_critic, build_q_network
    from common.export import export_saved_model
    from dlsuite.registry import get_app

    rl = get_app("rl")
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    for agent, model, names in (("dqn", build_q_network(4, 2, hidden=8), {"action", "q_values"}),
                                ("ppo", build_actor_critic(4, 2, hidden=8), {"action", "logits", "value"})):
        cfg = rl.config_class(agent=agent)
        path = export_saved_model(model, str(tmp_path / agent), postprocess=lambda out: rl.serving_outputs(cfg, out, {}))
        served = tf.saved_model.load(path).signatures["serving_default"]
        out = served(**{model.inputs[0].name.split(":")[0]: tf.constant(obs)})
        assert set(out) == names
        scores = out["q_values"] if agent == "dqn" else out["logits"]
        assert out["action"].numpy().tolist() == np.argmax(scores.numpy(), axis=-1).tolist()
    gan, style = get_app("gan"), get_app("style_transfer")
    assert set(gan.serving_outputs(None, tf.zeros([1, 2]), {})) == {"images"}
    assert set(style.serving_outputs(None, tf.zeros([1, 2]), {})) == {"image"}
