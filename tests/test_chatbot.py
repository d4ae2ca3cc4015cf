"""Chatbot tests: the corpus builder and its conversation split, model builds and save/load round trips that keep
the text vectorization, training steps lowering the loss, incremental decoding equal to full decoding (greedy
and beam search, both model families), the retrieval fallback, and the CLI end to end with its bad inputs."""

import io
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.chatbot import data as chat_data
from apps.chatbot.data import conversation_pairs, load_dialogs, split_conversations
from apps.chatbot.decoding import IncrementalReplier, best_threshold, with_fallback
from apps.chatbot.task import unigram_perplexity
from common.errors import UsageError
from common.seq2seq.decoding import FullTranslator, as_sources
from common.seq2seq.model import build_translator, model_vocabularies
from common.seq2seq.tokens import encode_targets, learn_vocabulary
from conftest import read_json

DIALOG = [("Hello", "Hi there."), ("How are you?", "I am fine, thank you."), ("What is your name?", "I am a bot."),
          ("Do you like music?", "Yes, I like jazz."), ("Tell me a joke", "I have no jokes today."),
          ("What is AI?", "AI is the science of making machines think."), ("Goodbye", "Bye, see you soon."),
          ("Are you a robot?", "I am a program.")]
TINY = {"transformer": dict(embed_dim=16, depth=2, heads=2, mlp_dim=32, dropout=0.0),
        "rnn": dict(embed_dim=16, units=16, cell="gru", dropout=0.0),
        "lstm": dict(embed_dim=16, units=16, cell="lstm", attention="bahdanau", bidirectional=False, dropout=0.0)}
TINY_CLI = ["--set", "embed_dim=16", "--set", "units=16", "--set", "depth=1", "--set", "heads=2", "--set", "mlp_dim=32",
            "--set", "max_length=24", "--set", "beam_size=2", "--set", "examples=2", "--set", "eval_sentences=6",
            "--batch-size", "64"]


@pytest.fixture(scope="module")
def vocabularies():
    return (learn_vocabulary([c for c, _ in DIALOG], max_tokens=100),
            learn_vocabulary([r for _, r in DIALOG], max_tokens=100, target=True))


def build(vocabularies, family, seed=0, max_length=10):
    keras.utils.set_random_seed(seed)
    model = "transformer" if family == "transformer" else "rnn"
    return build_translator(*vocabularies, model=model, max_length=max_length, **TINY[family])


def test_conversations_split_without_shared_contexts(tmp_path, monkeypatch):
    assert conversation_pairs(["a", "b", "c"]) == [("a", "b"), ("b", "c")]
    conversations = [["Hi", "Hello"], ["hi", "Hey there"], ["What?", "Nothing.", "Sure?"]] + \
        [[f"question {i}", f"answer {i}"] for i in range(30)]
    parts = split_conversations(conversations, seed=0)
    assert sorted(sum(parts.values(), [])) == list(range(len(conversations)))
    assert split_conversations(conversations, seed=0) == parts
    assert len(parts["train"]) >= 20 and parts["validation"] and parts["test"]
    home = [split for split, numbers in parts.items() if 0 in numbers]
    assert home == [split for split, numbers in parts.items() if 1 in numbers]  # "Hi" and "hi" stay together

    folder = tmp_path / "corpus" / "english"
    folder.mkdir(parents=True)
    lines = ["categories:\n- test\nconversations:\n"] + \
        [f"- - {c} ({i})\n  - {r}\n" for i in range(3) for c, r in DIALOG] + \
        ["- - One\n  - Two\n  - 3\n"]
    (folder / "small.yml").write_text("".join(lines), encoding="utf-8")
    monkeypatch.setattr(chat_data, "corpus_root", lambda: str(tmp_path / "corpus"))
    data = load_dialogs("chatterbot_corpus", data_dir=str(tmp_path / "tfds"))
    assert sum(data.sizes.values()) == 26 and min(data.sizes.values()) > 0
    assert ("Two", "3") in list(zip(sum(data.sources.values(), []), sum(data.targets.values(), [])))
    contexts = [set(data.sources[split]) for split in ("train", "validation", "test")]
    assert not (contexts[0] & contexts[1] or contexts[0] & contexts[2] or contexts[1] & contexts[2])
    (folder.parent / "yoruba").mkdir()
    (folder.parent / "yoruba" / "one.yml").write_text("conversations:\n- - Hi\n  - Hello\n", encoding="utf-8")
    with pytest.raises(UsageError, match="chatterbot_corpus/yoruba gives an empty validation split"):
        load_dialogs("chatterbot_corpus", language="yoruba", data_dir=str(tmp_path / "tfds"))
    with pytest.raises(UsageError, match="unknown language 'klingon' for chatterbot_corpus: use one of english"):
        load_dialogs("chatterbot_corpus", language="klingon", data_dir=str(tmp_path / "tfds"))
    with pytest.raises(UsageError, match="unknown dataset 'nonsense'"):
        load_dialogs("nonsense")
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{c} {i}\t{r} {i}\n" for i in range(4) for c, r in DIALOG), encoding="utf-8")
    assert load_dialogs(str(tsv)).direction == "context-reply"
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "chatterbot_corpus", None)  # as if the package were not installed
    with pytest.raises(UsageError, match="install it with `pip install chatterbot-corpus`"):
        chat_data.corpus_root()


def test_tfds_dialog_sets_under_mock_data():
    import tensorflow_datasets as tfds

    def pairs(builder, split=None, **kwargs):
        rows = [(f"{c} {i}", f"{r} {i}") for i in range(4) for c, r in DIALOG]
        rows = rows[:20] if split == "train" else rows[20:25]
        return tf.data.Dataset.from_tensor_slices({"pt": [c for c, _ in rows], "en": [r for _, r in rows]})

    with tfds.testing.mock_data(as_dataset_fn=pairs):
        data = load_dialogs("tfds:ted_hrlr_translate/pt_to_en")
    assert data.direction == "context-reply" and data.sizes == {"train": 20, "validation": 5, "test": 5}
    assert data.sources["train"][0] == "Hello 0" and data.targets["train"][0] == "Hi there. 0"


def test_the_installed_english_corpus():
    data = load_dialogs("chatterbot_corpus")
    assert sum(data.sizes.values()) == 2306 and data.sizes["train"] > 1800
    assert len(set(data.sources["train"]) & set(data.sources["test"])) == 0


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_models_round_trip_with_their_text_vectorization(tmp_path, vocabularies, family):
    model = build(vocabularies, family)
    contexts = ["Hello", "What is your favourite, unseen word?"]
    ids = np.array([[2, 5, 6], [2, 7, 0]], np.int32)
    logits = keras.ops.convert_to_numpy(model([as_sources(contexts), ids]))
    assert logits.shape == (2, 3, len(vocabularies[1]))
    replies = IncrementalReplier(model).translate(contexts, beam_size=2)
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras")
    assert model_vocabularies(again) == vocabularies  # the TextVectorization and output vocabularies
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again([as_sources(contexts), ids])), logits, atol=1e-5)
    assert IncrementalReplier(again).translate(contexts, beam_size=2) == replies


def test_training_steps_lower_the_loss(vocabularies):
    from apps.chatbot.config import ChatbotConfig
    from apps.chatbot.task import Chatbot

    model = build(vocabularies, "transformer", max_length=12)
    cfg = ChatbotConfig(model="transformer", learning_rate=5e-3, lr_schedule="constant", label_smoothing=0.0)
    Chatbot().compile_model(model, cfg, steps_per_epoch=1)
    inputs, labels, _ = encode_targets([r for _, r in DIALOG], vocabularies[1], 12)
    x = {"source": tf.constant(as_sources([c for c, _ in DIALOG]).astype(str)), "target": inputs}
    history = model.fit(x, labels, epochs=10, batch_size=4, verbose=0).history["loss"]
    assert history[-1] < 0.7 * history[0]


@pytest.mark.parametrize("family", ["transformer", "rnn", "lstm"])
def test_incremental_decoding_equals_full_decoding(vocabularies, family):
    model = build(vocabularies, family, seed=3, max_length=6)
    contexts = [c for c, _ in DIALOG[:3]] + ["a context much longer than the others, with words never seen before"]
    full, incremental = FullTranslator(model, batch_size=3), IncrementalReplier(model, batch_size=3)
    # Logits of the same prefixes, step by step (contexts of different lengths, so with padding), then with the
    # rows reordered and copied as beam search does.
    sources = as_sources(contexts)
    full_state, state = full._begin(sources), incremental._begin(sources)
    for token, rows in ((2, None), (4, None), (5, np.array([3, 0, 0, 1])), (6, np.array([1, 1, 2, 0]))):
        tokens = np.full(len(contexts), token, np.int32)
        expected, full_state = full._next(full_state, tokens, rows)
        log_probs, state = incremental._next(state, tokens, rows)
        np.testing.assert_allclose(log_probs, expected, atol=1e-4)
    assert incremental.steps == 4  # one token per step, not the whole prefix again
    assert incremental.greedy(contexts) == full.greedy(contexts)
    assert incremental.beam_search(contexts, 2, 0.6) == full.beam_search(contexts, 2, 0.6)


def test_beam_search(vocabularies):
    model = build(vocabularies, "transformer", seed=1, max_length=6)
    replier = IncrementalReplier(model, batch_size=3)
    contexts = [c for c, _ in DIALOG[:5]]
    greedy = replier.greedy(contexts)
    assert replier.beam_search(contexts, beam_size=1) == greedy
    beam = replier.beam_search(contexts, beam_size=4)
    assert all(0 < len(ids) <= 6 for ids in beam) and all(1 not in ids for ids in beam)  # no [UNK]
    # Without length normalisation beam search finds replies at least as likely as greedy's.
    assert np.all(replier.log_probability(contexts, beam) >= replier.log_probability(contexts, greedy) - 1e-6)
    replies, confidence = replier.replies(contexts, beam_size=2)
    assert len(replies) == len(contexts) and np.all(confidence <= 0)
    with pytest.raises(ValueError, match="beam_size=0"):
        replier.beam_search(contexts, beam_size=0)


def test_fallback_and_unigram_baseline():
    confidence = np.array([-0.5, -3.0, -1.0])
    assert with_fallback(["a", "b", "c"], confidence, ["x", "y", "z"], -2.0) == ["a", "y", "c"]
    references = ["a", "y", "z"]
    threshold, scores = best_threshold(["a", "b", "c"], confidence, ["x", "y", "z"], references,
                                       lambda h, r: sum(map(str.__eq__, h, r)))
    assert scores[-np.inf] == 1 and scores[np.inf] == 2 and scores[threshold] == 3  # a, y, z
    vocabulary = ["", "[UNK]", "[start]", "[end]", "a", "b"]
    assert unigram_perplexity(["a b"], ["a b"], vocabulary, 8) == pytest.approx(3.0)  # (1+1)/(3+3) each token


def stdin(monkeypatch, data: bytes, tty=False):
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    monkeypatch.setattr(stream, "isatty", lambda: tty)
    monkeypatch.setattr(sys, "stdin", stream)


def test_end_to_end_cli_and_bad_inputs(cli, tmp_path, monkeypatch):
    run = tmp_path / "run"
    code, out, err = cli("chatbot", "train", "--epochs", "1", "--quiet", "--output-dir", run, *TINY_CLI,
                         "--set", "image_summary_every=1")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert {"bleu", "chrf", "bleu_beam", "bleu_fallback", "perplexity", "fallback_threshold",
            "validation_bleu_fallback"} <= set(metrics["test"])
    assert set(metrics["baselines"]) == {"retrieval", "unigram"} and metrics["test"]["sentences"] == 6
    assert "| context | reference | greedy (confidence) | beam 2 | retrieval |" in \
        (run / "examples" / "replies.md").read_text(encoding="utf-8")
    assert (run / "logs" / "test").is_dir()

    stdin(monkeypatch, b"Hello\nWhat is AI?\nquit\nnever read\n")
    code, out, err = cli("chatbot", "chat", "--run", run)
    assert code == 0 and out.count("\n") == 2, err  # one reply per line until "quit"
    stdin(monkeypatch, b"Hello\n\nBye\n", tty=True)  # a terminal: prompts, and an empty line is skipped
    code, out, err = cli("chatbot", "chat", "--run", run, "--fallback", "off")
    assert code == 0 and out.count("bot> ") == 2 and "empty message" in err and "you> " in err, err
    code, out, err = cli("chatbot", "chat", "--run", run, "--beam-size", "2", "--fallback", "off", "Hello", "Bye")
    assert code == 0 and out.count("\n") == 2, err
    code, out, err = cli("chatbot", "chat", "--run", run, "--fallback", "1", "Hello")  # always retrieve
    assert code == 0 and out.strip(), err
    code, out, err = cli("chatbot", "chat", "--run", run, "--fallback", "off", " ".join(["hello there"] * 15))
    assert code == 0 and "warning: message 1 has 30 tokens; the model reads only the first 24" in err
    code, out, err = cli("chatbot", "predict", "--run", run, "Hello")
    assert code == 0 and '"reply"' in out and '"confidence"' in out, err

    for data, message in ((b"Hello\n\nBye\n", "line 2 is empty"),
                          ("Gr\xfc\xdfe\n".encode("latin-1"), "line 1 of stdin is not UTF-8 text")):
        stdin(monkeypatch, data)
        code, out, err = cli("chatbot", "chat", "--run", run, "--fallback", "off")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    other = build((["", "[UNK]", "hello"], ["", "[UNK]", "[start]", "[end]", "hi"]), "rnn")
    other.save(tmp_path / "other.keras")
    (tmp_path / "other.keras").replace(run / "model.keras")
    for args, message in (
        (("chat", "--run", run, "Hello"), "the model's vocabulary (digest"),
        (("train", "--language", "klingon", "--output-dir", tmp_path / "x"), "unknown language 'klingon'"),
        (("train", "--set", "fallback=sometimes", "--output-dir", tmp_path / "x"), "fallback='sometimes' must be"),
    ):
        code, out, err = cli("chatbot", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "x").exists()
