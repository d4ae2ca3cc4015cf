"""Text generation tests: corpora and their errors, both model families, round trips that keep the vocabulary,
incremental decoding equal to a full pass, sampling, the n-gram baseline, training, and the CLI end to end."""

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from apps.text_generation import generation
from apps.text_generation.data import encode, evaluation_windows, learn_vocabulary, load_corpus, split_contiguous
from apps.text_generation.generation import GPTDecoder, RecurrentDecoder, generate, make_decoder, sample_next
from apps.text_generation.model import build_language_model
from apps.text_generation.ngram import CharNGram
from common.errors import UsageError
from conftest import read_json

TINY_SETS = ["embed_dim=16", "heads=2", "mlp_dim=32", "depth=1", "rnn_units=16", "sequence_length=32",
             "epoch_examples=64", "generate_length=20", "examples=2", "ngram_max_order=3", "batch_size=16"]
TINY_LM = [arg for item in TINY_SETS for arg in ("--set", item)]
SMALL = dict(sequence_length=16, embed_dim=16, depth=2, heads=2, mlp_dim=32, rnn_units=16, dropout=0.0)


def toy_text(lines: int = 150, seed: int = 0) -> str:
    """Sentences of a tiny grammar: a learnable toy, for mechanics only."""
    rng = np.random.default_rng(seed)
    subjects, verbs, objects = (["the cat", "a dog", "my friend", "the old man"], ["sat on", "looked at", "ran to"],
                                ["the mat", "a tree", "the house", "the park"])
    return "".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}.\n" for _ in range(lines))


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(toy_text(), encoding="utf-8")
    return str(path)


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dlsuite: error: "), err
    return lines[0]


# --- data ---------------------------------------------------------------------------------------
def test_corpora_split_contiguously(text_file):
    corpus = load_corpus("pydoc_topics")
    sizes = corpus.sizes
    assert sizes["train"] > 300_000 and abs(sizes["validation"] - sizes["test"]) <= 1
    assert "assert" in corpus.texts["train"][:200]
    assert split_contiguous("abcdefghij") == {"train": "abcdefgh", "validation": "i", "test": "j"}
    corpus = load_corpus(text_file)
    assert "".join(corpus.texts[s] for s in ("train", "validation", "test")) == toy_text()
    vocabulary = learn_vocabulary(corpus.texts["train"])
    assert encode("cat!", vocabulary).tolist() == [vocabulary.index(c) + 1 for c in "cat"] + [0]
    x, y = evaluation_windows(np.arange(10), 4)
    assert x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]] and y.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_fortunes_from_a_folder(tmp_path, monkeypatch):
    folder = tmp_path / "fortunes"
    folder.mkdir()
    monkeypatch.setenv("DLSUITE_FORTUNES_DIR", str(folder))
    with pytest.raises(UsageError, match="apt-get install fortunes"):
        load_corpus("fortunes")
    (folder / "wisdom").write_text("".join(f"Fortune number {i}.\n%\n" for i in range(40)), encoding="utf-8")
    (folder / "wisdom.dat").write_bytes(b"\x00\x01 index, not text")
    corpus = load_corpus("fortunes")
    text = "".join(corpus.texts.values())
    assert text.count("Fortune number") == 40 and "%" not in text and "index" not in text


def test_bad_corpora(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(UsageError, match="empty.txt is empty"):
        load_corpus(str(tmp_path / "empty.txt"))
    (tmp_path / "latin.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        load_corpus(str(tmp_path / "latin.txt"))
    with pytest.raises(UsageError, match="text file not found"):
        load_corpus(str(tmp_path / "missing.txt"))
    with pytest.raises(UsageError, match="unknown dataset 'shakespeare'"):
        load_corpus("shakespeare")
    with pytest.raises(UsageError, match="is a folder"):
        load_corpus(str(tmp_path))
    with pytest.raises(UsageError, match="unknown TFDS dataset 'no_such_corpus'"):
        load_corpus("tfds:no_such_corpus")


# --- models -------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["gpt", "lstm", "gru"])
def test_models_round_trip_with_their_vocabulary(tmp_path, family):
    vocabulary = learn_vocabulary(toy_text(20))
    model = build_language_model(vocabulary, model=family, **SMALL)
    ids = encode(toy_text(2)[:16], vocabulary)[None]
    logits = model.predict(ids, verbose=0)
    assert logits.shape == (1, 16, len(vocabulary) + 1) and logits.dtype == np.float32
    model.save(tmp_path / "lm.keras")
    again = keras.saving.load_model(tmp_path / "lm.keras")
    assert generation.vocabulary_of(again) == vocabulary
    np.testing.assert_allclose(again.predict(ids, verbose=0), logits, atol=1e-5)


@pytest.mark.parametrize("family, conv_kernel", [("gpt", 0), ("gpt", 3), ("lstm", 0), ("gru", 0)])
def test_incremental_decoding_equals_the_full_pass(family, conv_kernel):
    """Logits of step-by-step decoding (KV cache / carried states) equal one call on the whole sequence."""
    keras.utils.set_random_seed(1)
    vocabulary = learn_vocabulary(toy_text(20))
    model = build_language_model(vocabulary, model=family, conv_kernel=conv_kernel, **SMALL)
    ids = np.random.default_rng(0).integers(1, len(vocabulary) + 1, size=(2, 16)).astype(np.int32)
    full = np.asarray(model(ids, training=False))
    decoder = make_decoder(model)
    assert isinstance(decoder, GPTDecoder if family == "gpt" else RecurrentDecoder)
    pieces = [decoder.feed(ids[:, :5])] + [decoder.feed(ids[:, t:t + 1]) for t in range(5, 16)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, atol=1e-4)
    assert decoder.length == 16
    if family == "gpt":
        with pytest.raises(ValueError, match="context holds 16"):
            decoder.feed(ids[:, :1])  # positions run out: generate() restarts from the last half instead


def test_generation_is_incremental_and_runs_past_the_context(monkeypatch):
    vocabulary = learn_vocabulary(toy_text(20))
    model = build_language_model(vocabulary, **SMALL)
    fed = []
    feed = GPTDecoder.feed
    monkeypatch.setattr(GPTDecoder, "feed", lambda self, ids: fed.append(len(ids[0])) or feed(self, ids))
    text = generate(model, "the cat", 40, seed=0)
    assert len(text) == 40 and set(text) <= set(vocabulary)
    # The prompt once, then one character per step, and a restart from 8 characters each time 16 positions fill.
    assert fed[0] == 7 and set(fed[1:]) == {1, 8} and fed.count(8) == 4 and len(fed) == 40


def test_sampling_with_temperature_top_k_and_top_p():
    logits = np.array([5.0, 1.0, 3.0, 2.5, 0.5])  # id 0 is out-of-vocabulary: never drawn
    draw = [sample_next(logits, np.random.default_rng(s), temperature=1.0) for s in range(200)]
    assert 0 not in draw and set(draw) == {1, 2, 3, 4}
    assert sample_next(logits, np.random.default_rng(0), temperature=0) == 2
    for seed in range(20):
        assert sample_next(logits, np.random.default_rng(seed), top_k=1) == 2
        assert sample_next(logits, np.random.default_rng(seed), top_p=1e-6) == 2
        assert sample_next(logits, np.random.default_rng(seed), top_k=2) in (2, 3)
    # probabilities of ids 1..4 are about 0.07, 0.55, 0.33, 0.05 (oov removed): top_p=0.7 keeps 2 and 3
    assert {sample_next(logits, np.random.default_rng(s), top_p=0.7) for s in range(100)} == {2, 3}
    colder = [sample_next(logits, np.random.default_rng(s), temperature=0.2) for s in range(200)]
    assert colder.count(2) > draw.count(2)

    vocabulary = learn_vocabulary(toy_text(20))
    keras.utils.set_random_seed(2)
    model = build_language_model(vocabulary, model="gru", **SMALL)
    greedy = generate(model, "the ", 30, temperature=0)
    assert generate(model, "the ", 30, temperature=1.0, top_k=1, seed=5) == greedy
    assert generate(model, "the ", 30, temperature=1.5, top_p=1e-6, seed=6) == greedy
    assert generate(model, "the ", 30, seed=3) == generate(model, "the ", 30, seed=3)
    assert len({generate(model, "the ", 30, seed=s) for s in range(4)}) > 1
    with pytest.raises(UsageError, match="never saw in training: 'Z'"):
        generate(model, "the Zoo", 5)
    with pytest.raises(UsageError, match="top_p=0"):
        generate(model, "the", 5, top_p=0)


# --- baseline -----------------------------------------------------------------------------------
def test_ngram_bits_per_character_on_a_toy_text():
    train = [1, 2] * 50  # "abab...", vocabulary a, b and the out-of-vocabulary id: 3 ids
    lm = CharNGram(2, vocabulary_size=3).fit(train)
    # Witten-Bell, unigram: (C(c) + T * 1/3) / (N + T) with N = 100 characters of T = 2 types.
    unigram = (50 + 2 / 3) / 102
    # Bigram after "a": "ab" seen 50 times, 1 type after "a": (50 + 1 * unigram) / 51.
    bigram = (50 + unigram) / 51
    test = [1, 2, 1, 2, 1]
    probabilities = lm.probabilities(test)
    np.testing.assert_allclose(probabilities[0], [unigram] * 4)
    np.testing.assert_allclose(probabilities[1, 0], bigram)
    assert lm.bits_per_character(test, order=1) == pytest.approx(-math.log2(unigram))
    assert lm.best_order(test)[0] == 2
    assert lm.bits_per_character(test, order=2) < 0.05
    unknown = lm.probabilities([1, 0])[:, 0]  # an id never seen in training (after "a") still gets a share
    np.testing.assert_allclose(unknown, [(2 / 3) / 102, (2 / 3) / 102 / 51])


# --- training and the command line --------------------------------------------------------------
def test_training_lowers_the_loss():
    text = toy_text()
    vocabulary = learn_vocabulary(text)
    x, y = evaluation_windows(encode(text, vocabulary), 32)
    keras.utils.set_random_seed(0)
    model = build_language_model(vocabulary, **{**SMALL, "sequence_length": 32})
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


def test_end_to_end_cli_and_bad_inputs(cli, tmp_path, text_file):
    run = tmp_path / "run"
    code, out, err = cli("text_generation", "train", "--dataset", text_file, "--epochs", "2", "--quiet",
                         "--output-dir", run, *TINY_LM, "--set", "model=gpt", "--set", "image_summary_every=1")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    test = metrics["test"]
    assert test["bits_per_character"] == pytest.approx(test["loss"] / math.log(2))
    assert test["perplexity"] == pytest.approx(math.exp(test["loss"]))
    ngram = metrics["baselines"]["ngram"]
    assert 1 <= ngram["order"] <= 3 and ngram["bits_per_character"] > 0
    assert metrics["data"]["level"] == "character" and metrics["parameters"] > 0
    examples = (run / "examples" / "generations.md").read_text(encoding="utf-8")
    assert "**Example 2**" in examples and "continuation:" in examples
    assert os.listdir(run / "logs" / "test")

    code, out, err = cli("text_generation", "evaluate", "--run", run)
    assert code == 0 and f"bits_per_character={test['bits_per_character']:.4f}" in out, err

    code, out, err = cli("text_generation", "generate", "--run", run, "--prompt", "the cat", "--length", "25",
                         "--temperature", "0.7", "--top-k", "5", "--top-p", "0.9", "--seed", "3")
    assert code == 0, err
    assert out.startswith("the cat") and len(out.rstrip("\n")) >= len("the cat") + 20
    again = cli("text_generation", "generate", "--run", run, "--prompt", "the cat", "--length", "25",
                "--temperature", "0.7", "--top-k", "5", "--top-p", "0.9", "--seed", "3")[1]
    assert again == out
    code, out, err = cli("text_generation", "generate", "--run", run, "--prompt", "the dog " * 10, "--length", "5")
    assert code == 0 and "dlsuite: warning: the prompt has 80 characters, more than the model's context of 32" in err

    code, out, err = cli("text_generation", "predict", "--run", run, "a dog", "my friend")
    assert code == 0 and out.count('"continuation"') == 2, err
    for args, message in ((("generate", "--prompt", "Ü the"), "never saw in training: 'Ü'"),
                          (("generate", "--prompt", "the", "--top-p", "1.5"), "top_p=1.5 must be in (0, 1]"),
                          (("generate", "--length", "0"), "length=0 must be >= 1"),
                          (("predict",), "predict needs prompts")):
        code, out, err = cli("text_generation", args[0], "--run", run, *args[1:])
        assert code == 2 and message in one_line(err)

    code, out, err = cli("text_generation", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model"))
    model = keras.saving.load_model(run / "model.keras")
    ids = encode("the cat sat", generation.vocabulary_of(model))[None]
    result = served.signatures["serving_default"](tf.constant(ids))["logits"].numpy()
    np.testing.assert_allclose(result, model.predict(ids, verbose=0), atol=1e-5)


def test_lstm_trains_from_the_cli(cli, tmp_path, text_file):
    run = tmp_path / "lstm"
    code, out, err = cli("text_generation", "train", "--dataset", text_file, "--epochs", "1", "--quiet",
                         "--output-dir", run, *TINY_LM, "--set", "model=lstm")
    assert code == 0, err
    assert read_json(run / "metrics.json")["config"]["model"] == "lstm"
    code, out, err = cli("text_generation", "generate", "--run", run, "--prompt", "the dog " * 10, "--length", "5")
    assert code == 0 and "warning" not in err  # an RNN reads prompts of any length


@pytest.mark.parametrize("content, args, message", [
    (b"", (), "empty.txt is empty"),
    (b"caf\xe9", (), "is not UTF-8 text"),
    (None, (), "text file not found"),
    (b"too short for windows\n", (), "fewer than sequence_length + 1 = 33"),
    (None, ("--dataset", "nosuchcorpus"), "unknown dataset 'nosuchcorpus'"),
    (None, ("--set", "top_p=0"), "top_p=0.0 must be in (0, 1]"),
    (None, ("--set", "model=transformer"), "model='transformer' is not one of"),
])
def test_bad_inputs_give_one_line_and_exit_2(cli, tmp_path, content, args, message):
    path = tmp_path / "empty.txt"
    if content is not None:
        path.write_bytes(content)
    code, out, err = cli("text_generation", "train", "--dataset", path, *args, "--output-dir", tmp_path / "run",
                         *TINY_LM)
    assert code == 2 and message in one_line(err)
    assert not (tmp_path / "run").exists()


SHAKESPEARE = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"


def shakespeare_like(builder, split=None, **kwargs):
    """tiny_shakespeare holds one example per split: the whole text of that split."""
    text = {"train": SHAKESPEARE * 40, "validation": SHAKESPEARE * 4, "test": SHAKESPEARE * 5}[split]
    return tf.data.Dataset.from_tensor_slices({"text": [text]})


def test_tfds_tiny_shakespeare_under_mock_data(cli, tmp_path):
    with tfds.testing.mock_data(as_dataset_fn=shakespeare_like):
        corpus = load_corpus("tfds:tiny_shakespeare")
        assert corpus.texts == {"train": SHAKESPEARE * 40, "validation": SHAKESPEARE * 4, "test": SHAKESPEARE * 5}
        code, out, err = cli("text_generation", "train", "--dataset", "tfds:tiny_shakespeare", "--epochs", "1",
                             "--quiet", "--output-dir", tmp_path / "shakespeare", *TINY_LM)
    assert code == 0, err
    assert read_json(tmp_path / "shakespeare" / "metrics.json")["dataset"] == "tfds:tiny_shakespeare"


@pytest.mark.parametrize("family", ["gru", "gpt"])
def test_search_space_defaults_to_the_config(text_file, family):
    import dataclasses

    import keras_tuner

    from dlsuite.registry import get_app
    from common.config import resolve_config
    from tuning.search import AppHyperModel

    task = get_app("text_generation")
    cfg = resolve_config(task.config_class, task.name, sets=[f"model={family}", f"dataset={text_file}", *TINY_SETS])
    hypermodel = AppHyperModel(task, cfg, data=task.load_data(cfg), steps_per_epoch=4)
    hp = keras_tuner.HyperParameters()
    assert hypermodel.config_for(hp) == cfg
    assert set(hp.values) <= {f.name for f in dataclasses.fields(cfg)}
    hp.values["depth"] = 2
    assert hypermodel.build(hp).get_layer(f"{'block' if family == 'gpt' else family}2")
