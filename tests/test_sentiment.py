"""Sentiment analysis tests: data loading and its errors, the two model families, round trips that keep
the text vectorization, training lowering the loss, the CLI end to end, and the offline default's builder."""

import csv
import io
import os
import tarfile

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from apps.sentiment.model import build_text_classifier, learn_bag_of_ngrams, learn_vocabulary
from apps.sentiment.task import as_strings
from apps.sentiment.data import load_texts
from common.errors import UsageError
from conftest import read_json

TINY_TEXT = ["--set", "embed_dim=8", "--set", "heads=2", "--set", "mlp_dim=16", "--set", "depth=1",
             "--set", "sequence_length=12", "--set", "rnn_units=8", "--batch-size", "16"]
GOOD = ["good", "great", "wonderful", "moving", "funny", "brilliant"]
BAD = ["bad", "awful", "boring", "dull", "tedious", "clumsy"]


def review_rows(n: int = 120, seed: int = 0) -> list[tuple[str, str]]:
    """Short reviews whose label follows their adjectives (a learnable toy, for mechanics only)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        words = rng.choice(GOOD if positive else BAD, 2)
        rows.append((f"the film was {words[0]} and the cast {words[1]}", "pos" if positive else "neg"))
    return rows


def write_csv(path, rows, header=("text", "label")) -> str:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture
def reviews_csv(tmp_path):
    return write_csv(tmp_path / "reviews.csv", review_rows())


def test_csv_split_and_classes(reviews_csv):
    data = load_texts(reviews_csv)
    assert data.class_names == ["neg", "pos"] and sum(data.sizes.values()) == 120
    assert data.sizes == {"train": 84, "validation": 12, "test": 24}
    assert set(data.labels["test"]) == {0, 1}


def test_bad_text_data(tmp_path):
    with pytest.raises(UsageError, match="no column 'label'"):
        load_texts(write_csv(tmp_path / "a.csv", [("nice", "x")], header=("text", "stars")))
    with pytest.raises(UsageError, match="single class"):
        load_texts(write_csv(tmp_path / "b.csv", [(f"text {i}", "pos") for i in range(20)]))
    with pytest.raises(UsageError, match="line 3: empty 'text'"):
        load_texts(write_csv(tmp_path / "c.csv", [("fine", "pos"), ("  ", "neg")]))
    latin = tmp_path / "d.csv"
    latin.write_bytes("text,label\ncaf\xe9 cr\xe8me,pos\n".encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        load_texts(str(latin))
    empty = tmp_path / "e.csv"
    empty.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(UsageError, match="no rows"):
        load_texts(str(empty))
    with pytest.raises(UsageError, match="not found"):
        load_texts(str(tmp_path / "missing.csv"))
    with pytest.raises(UsageError, match="is an image dataset"):
        load_texts("digits")


def test_folder_of_text_files(tmp_path):
    for i, (text, label) in enumerate(review_rows(40)):
        os.makedirs(tmp_path / "reviews" / label, exist_ok=True)
        (tmp_path / "reviews" / label / f"{i}.txt").write_text(text, encoding="utf-8")
    data = load_texts(str(tmp_path / "reviews"))
    assert data.class_names == ["neg", "pos"] and sum(data.sizes.values()) == 40
    (tmp_path / "reviews" / "neg" / "bad.txt").write_bytes(b"\xff\xfe not utf-8 \xe9")
    with pytest.raises(UsageError, match="bad.txt is not UTF-8"):
        load_texts(str(tmp_path / "reviews"))


@pytest.mark.parametrize("family", ["transformer", "bilstm", "bigru"])
def test_models_round_trip_with_their_vocabulary(tmp_path, family):
    texts = [text for text, _ in review_rows(20)]
    vocabulary = learn_vocabulary(texts, max_tokens=50)
    model = build_text_classifier(vocabulary, 2, model=family, sequence_length=12, embed_dim=8, heads=2, mlp_dim=16,
                                  rnn_units=8, depth=2)
    batch = as_strings(texts[:4] + ["words never seen before", ""])
    probabilities = model.predict(batch, verbose=0)
    assert probabilities.shape == (6, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras")
    assert again.get_layer("vectorize").get_vocabulary() == vocabulary
    np.testing.assert_allclose(again.predict(batch, verbose=0), probabilities, atol=1e-6)


def test_wide_path_starts_at_naive_bayes_and_round_trips(tmp_path):
    rows = review_rows(40)
    texts, labels = [text for text, _ in rows], np.array([label == "pos" for _, label in rows], np.int64)
    wide = learn_bag_of_ngrams(texts, labels, 2, max_tokens=200, ngrams=2)
    assert "was great" in wide["vocabulary"] and wide["kernel"].shape == (len(wide["vocabulary"]), 2)
    good, bad = wide["vocabulary"].index("great"), wide["vocabulary"].index("dull")
    assert wide["kernel"][good, 1] > 0 > wide["kernel"][bad, 1]  # log-count ratios, centred over classes
    np.testing.assert_allclose(wide["kernel"].sum(axis=1), 0.0, atol=1e-5)
    quarter = learn_bag_of_ngrams(texts, labels, 2, max_tokens=200, ngrams=2, scale=0.25)  # sentiment's wide_scale
    for part in ("kernel", "bias"):
        np.testing.assert_allclose(quarter[part], 0.25 * wide[part], rtol=1e-6)
    model = build_text_classifier(learn_vocabulary(texts, max_tokens=50), 2, sequence_length=12, embed_dim=8,
                                  heads=2, mlp_dim=16, wide=wide)
    # Untrained, the network's logits are small: naive Bayes already reads the toy's adjectives.
    batch = as_strings(["the film was great and the cast funny", "the film was dull and the cast awful", ""])
    probabilities = model.predict(batch, verbose=0)
    assert probabilities[:2].argmax(axis=1).tolist() == [1, 0]
    model.save(tmp_path / "wide.keras")
    again = keras.saving.load_model(tmp_path / "wide.keras")
    assert again.get_layer("bag_of_ngrams").get_vocabulary() == wide["vocabulary"]
    np.testing.assert_allclose(again.predict(batch, verbose=0), probabilities, atol=1e-6)


def test_padding_does_not_change_the_transformer_output():
    vocabulary = learn_vocabulary(["a good film", "a bad film"], max_tokens=20)
    short = build_text_classifier(vocabulary, 2, sequence_length=4, embed_dim=8, heads=2, mlp_dim=16, dropout=0.0)
    long = build_text_classifier(vocabulary, 2, sequence_length=16, embed_dim=8, heads=2, mlp_dim=16, dropout=0.0)
    for layer in short.layers:
        if layer.weights and layer.name != "embedding":
            long.get_layer(layer.name).set_weights(layer.get_weights())
    embedding = short.get_layer("embedding")  # KerasHub's TokenAndPositionEmbedding
    tokens, positions = embedding.token_embedding.get_weights()[0], embedding.position_embedding.get_weights()[0]
    long_positions = long.get_layer("embedding").position_embedding.get_weights()[0]
    long_positions[:4] = positions
    long.get_layer("embedding").token_embedding.set_weights([tokens])
    long.get_layer("embedding").position_embedding.set_weights([long_positions])
    text = as_strings(["a good film"])
    np.testing.assert_allclose(long.predict(text, verbose=0), short.predict(text, verbose=0), atol=1e-5)


def test_training_lowers_the_loss(reviews_csv):
    data = load_texts(reviews_csv)
    vocabulary = learn_vocabulary(data.texts["train"], max_tokens=100)
    keras.utils.set_random_seed(0)
    model = build_text_classifier(vocabulary, 2, sequence_length=12, embed_dim=16, heads=2, mlp_dim=16, depth=1,
                                  dropout=0.0)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    history = model.fit(as_strings(data.texts["train"]), data.labels["train"], epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_end_to_end_cli_and_bad_inputs(cli, tmp_path, reviews_csv):
    run = tmp_path / "run"
    code, out, err = cli("sentiment", "train", "--dataset", reviews_csv, "--epochs", "3", "--quiet",
                         "--output-dir", run, *TINY_TEXT, "--set", "image_summary_every=1")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert {"accuracy", "macro_f1", "loss", "report"} <= set(metrics["test"])
    assert set(metrics["test"]["report"]) >= {"neg", "pos", "macro avg"}
    assert "tfidf_logreg" in metrics["baselines"] and metrics["data"]["class_names"] == ["neg", "pos"]
    examples = (run / "examples" / "predictions.md").read_text(encoding="utf-8")
    assert examples.count("\n") >= 9 and "the film was" in examples
    assert os.listdir(run / "logs" / "test") and (run / "plots" / "confusion_matrix.png").exists()

    code, out, err = cli("sentiment", "evaluate", "--run", run)
    assert code == 0 and f"accuracy={metrics['test']['accuracy']:.4f}" in out, err
    code, out, err = cli("sentiment", "predict", "--run", run, "the film was great", "dull and clumsy")
    assert code == 0, err
    assert '"label"' in out and '"probability"' in out and "dull and clumsy" in out
    for args, message in (((), "predict needs sentences"), (("fine", "  "), "empty sentence")):
        code, out, err = cli("sentiment", "predict", "--run", run, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err

    code, out, err = cli("sentiment", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model"))
    batch = as_strings(["the film was great", "dull and clumsy"])
    expected = keras.saving.load_model(run / "model.keras").predict(batch, verbose=0)
    result = served.signatures["serving_default"](batch)["probabilities"].numpy()
    np.testing.assert_allclose(result, expected, atol=1e-5)
    code, out, err = cli("sentiment", "export", "--run", run, "--format", "preset")
    assert code == 2 and "needs a run whose model is a KerasHub task" in err and len(err.strip().splitlines()) == 1
    assert not (run / "preset").exists()

    single = write_csv(tmp_path / "single.csv", [(f"text {i}", "pos") for i in range(20)])
    code, out, err = cli("sentiment", "train", "--dataset", single, "--quiet", "--output-dir", tmp_path / "single")
    assert code == 2 and "single class" in err and not (tmp_path / "single").exists()


def test_bilstm_trains_from_the_cli(cli, tmp_path, reviews_csv):
    code, out, err = cli("sentiment", "train", "--dataset", reviews_csv, "--epochs", "1", "--quiet",
                         "--output-dir", tmp_path / "rnn", *TINY_TEXT, "--set", "model=bigru")
    assert code == 0, err
    metrics = read_json(tmp_path / "rnn" / "metrics.json")
    assert metrics["config"]["model"] == "bigru" and metrics["data"]["wide_ngrams"] > 0  # wide by default


def fake_vader_sdist(path, rows, others=None) -> str:
    """A stand-in for the vaderSentiment sdist: the nested tarball with a movie GroundTruth file (and the
    GroundTruth files of `others`: {file stem: rows})."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        for stem, stem_rows in {"movieReviewSnippets": rows, **(others or {})}.items():
            truth = "".join(f"{i + 1}\t{rating}\t{text}\r\n" for i, (rating, text) in enumerate(stem_rows))
            info = tarfile.TarInfo(f"hutto_ICWSM_2014/{stem}_GroundTruth.txt")
            info.size = len(truth.encode("utf-8"))
            tar.addfile(info, io.BytesIO(truth.encode("utf-8")))
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
        info.size = len(inner.getvalue())
        tar.addfile(info, io.BytesIO(inner.getvalue()))
    return str(path)


def test_vader_movies_builder_from_a_local_sdist(tmp_path, monkeypatch):
    rows = [(1.5, f"a fine film number {i}") for i in range(30)] + [(-2.0, f"a poor film number {i}") for i in range(30)]
    rows += [(0.0, "a neutral sentence")]
    monkeypatch.setenv("DLSUITE_VADER_SDIST", fake_vader_sdist(tmp_path / "vader.tar.gz", rows))
    data = load_texts("vader_movies", data_dir=str(tmp_path / "tfds"))
    assert data.sizes == {"train": 42, "validation": 6, "test": 12}  # the 0-rated sentence is left out
    assert data.class_names == ["negative", "positive"]
    for split in ("train", "test"):
        for text, label in zip(data.texts[split], data.labels[split]):
            assert ("fine" in text) == (label == 1)

    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tarball")
    monkeypatch.setenv("DLSUITE_VADER_SDIST", str(broken))
    with pytest.raises(UsageError, match="is not a vaderSentiment sdist"):
        load_texts("vader_movies", data_dir=str(tmp_path / "tfds2"))


def imdb_like(builder, split=None, **kwargs):
    rows = review_rows(40, seed=1 if split == "test" else 0)
    return tf.data.Dataset.from_tensor_slices({"text": [t for t, _ in rows],
                                               "label": [int(label == "pos") for _, label in rows]})


def test_tfds_imdb_reviews_under_mock_data(cli, tmp_path):
    with tfds.testing.mock_data(as_dataset_fn=imdb_like):
        data = load_texts("tfds:imdb_reviews")
        assert data.class_names == ["neg", "pos"] and data.sizes == {"train": 36, "validation": 4, "test": 40}
        code, out, err = cli("sentiment", "train", "--dataset", "tfds:imdb_reviews", "--epochs", "1", "--quiet",
                             "--output-dir", tmp_path / "imdb", *TINY_TEXT)
    assert code == 0, err


def test_token_dropout_replaces_words_only_in_training():
    from common.layers import TokenDropout

    ids = np.array([[5, 6, 7, 8, 0, 0]] * 200, np.int64)
    layer = TokenDropout(0.25, seed=0)
    np.testing.assert_array_equal(layer(ids, training=False), ids)
    dropped = np.asarray(layer(ids, training=True))
    assert set(np.unique(dropped[:, :4])) <= {1, 5, 6, 7, 8} and (dropped[:, 4:] == 0).all()
    assert 0.15 < np.mean(dropped[:, :4] == 1) < 0.35


def test_lexicon_baselines_read_the_sign_of_each_score():
    from apps.sentiment.lexicons import lexicon_baselines, positive_class

    assert positive_class(["negative", "positive"]) == 1 and positive_class(["POS", "NEG"]) == 0
    assert positive_class(["a", "b"]) is None and lexicon_baselines(["x"], np.array([0]), ["a", "b"]) == {}
    texts = ["a wonderful, moving film", "a dull and terrible mess", "great acting, superb story", "awful, boring"]
    results = lexicon_baselines(texts, np.array([1, 0, 1, 0]), ["neg", "pos"])
    assert set(results) == {"vader", "textblob"}
    assert results["vader"]["accuracy"] == 1.0 and results["textblob"]["accuracy"] == 1.0


def rated(word: str, n: int) -> list[tuple[float, str]]:
    return [(1.5, f"a fine {word} number {i}") for i in range(n)] + [(-2.0, f"a poor {word} number {i}") for i in range(n)]


def test_vader_all_and_the_real_world_sets_of_a_movie_run(cli, tmp_path, monkeypatch):
    others = {"tweets": rated("tweet", 10), "amazonReviewSnippets": rated("product", 10),
              "nytEditorialSnippets": rated("editorial", 10) + [(0.0, "a neutral sentence")]}
    monkeypatch.setenv("DLSUITE_VADER_SDIST", fake_vader_sdist(tmp_path / "vader.tar.gz", rated("film", 30), others))
    data = load_texts("vader_all", data_dir=str(tmp_path / "tfds"))
    assert sum(data.sizes.values()) == 120 and data.class_names == ["negative", "positive"]
    assert any("tweet" in text for text in data.texts["test"]) and any("film" in text for text in data.texts["test"])

    run = tmp_path / "run"
    code, out, err = cli("sentiment", "train", "--data-dir", tmp_path / "tfds", "--epochs", "1",
                         "--output-dir", run, "--quiet", *TINY_TEXT)
    assert code == 0, err
    real_world = read_json(run / "metrics.json")["real_world"]
    assert set(real_world) == {"tweets", "products", "editorials"}
    assert real_world["editorials"]["examples"] == 20  # the 0-rated sentence is left out
    for found in real_world.values():
        assert "GroundTruth.txt" in found["source"] and set(found["model"]) == {"accuracy", "macro_f1"}
        assert set(found["baselines"]) == {"tfidf_logreg", "vader", "textblob"}
    assert "real world: tweets, 20 examples" in out


# --- KerasHub presets ---------------------------------------------------------------------------
def save_tiny_bert_preset(path, *, extra_tokens: int = 0) -> str:
    """A 2-layer BERT TextClassifier on the toy reviews' words, saved with `save_to_preset` (offline)."""
    import keras_hub

    words = sorted({word for text, _ in review_rows(20) for word in text.split()} | set(GOOD) | set(BAD))
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *(f"extra{i}" for i in range(extra_tokens))]
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocabulary) - extra_tokens, num_layers=2,
                                             num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocabulary), sequence_length=16)
    keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=preprocessor).save_to_preset(str(path))
    return str(path)


@pytest.mark.slow
def test_a_bert_preset_trains_predicts_and_exports(cli, tmp_path, reviews_csv):
    preset = save_tiny_bert_preset(tmp_path / "bert")
    run = tmp_path / "run"
    code, out, err = cli("sentiment", "train", "--dataset", reviews_csv, "--preset", preset, "--epochs", "2",
                         "--quiet", "--output-dir", run, "--batch-size", "16", "--set", "sequence_length=12",
                         "--set", "learning_rate=3e-3")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert metrics["test"]["accuracy"] > 0 and "tfidf_logreg" in metrics["baselines"]
    code, out, err = cli("sentiment", "predict", "--run", run, "the film was great", "dull and clumsy")
    assert code == 0 and out.count('"label"') == 2, err

    batch = as_strings(["the film was great", "dull and clumsy", ""])
    expected = keras.saving.load_model(run / "model.keras").predict(batch, verbose=0)  # raw strings in
    assert expected.shape == (3, 2)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-5)
    code, out, err = cli("sentiment", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model"))
    result = served.signatures["serving_default"](batch)["probabilities"].numpy()
    np.testing.assert_allclose(result, expected, atol=1e-5)

    code, out, err = cli("sentiment", "export", "--run", run, "--format", "preset", "--path", tmp_path / "out")
    assert code == 0 and "KerasHub preset written" in out, err
    assert {"config.json", "tokenizer.json", "task.json", "task.weights.h5"} <= set(os.listdir(tmp_path / "out"))
    # A fresh process with KerasHub alone (no dlsuite) loads the folder and predicts the same from raw text.
    script = ("import json, sys, keras_hub\n"
              "m = keras_hub.models.TextClassifier.from_preset(sys.argv[1])\n"
              "print(json.dumps(m.predict(['the film was great', 'dull and clumsy', ''], verbose=0).tolist()))")
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.array(eval(done.stdout.strip().splitlines()[-1])), expected, atol=1e-5)

    # The saved run evaluates again to the same figure (the preprocessor and its vocabulary reload).
    code, out, err = cli("sentiment", "evaluate", "--run", run)
    assert code == 0 and f"accuracy={metrics['test']['accuracy']:.4f}" in out, err


def test_bad_presets_give_one_line_and_exit_2(cli, tmp_path, reviews_csv):
    import keras_hub

    (tmp_path / "empty").mkdir()
    gpt = tmp_path / "gpt"
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary={"<|endoftext|>": 0, "Ġ": 1, "a": 2, "b": 3, "Ġa": 4},
                                               merges=["Ġ a"])
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=5, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=8)
    keras_hub.models.GPT2CausalLM(backbone, keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=8)
                                  ).save_to_preset(str(gpt))
    mismatched = save_tiny_bert_preset(tmp_path / "mismatched", extra_tokens=5)
    cases = (
        (tmp_path / "empty", "is not a KerasHub preset folder"),
        (tmp_path / "missing", "neither a local folder nor a KerasHub preset name"),
        (gpt, "is a GPT2CausalLM preset (a CausalLM); sentiment needs a TextClassifier preset"),
        (mismatched, "tokenizer does not belong to this backbone"),
        ("kaggle://keras/bert/keras/bert_tiny_en_uncased", "this machine is offline"),
    )
    for preset, message in cases:
        run = tmp_path / "run"
        code, out, err = cli("sentiment", "train", "--dataset", reviews_csv, "--preset", str(preset), "--quiet",
                             "--output-dir", run)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (preset, err)
        assert not run.exists()
