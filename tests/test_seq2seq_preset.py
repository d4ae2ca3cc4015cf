"""translation and chatbot --preset: a tiny BART `Seq2SeqLM` preset written here (offline) is fine-tuned on toy
sentence pairs and on the chatterbot corpus, scored with the apps' own BLEU/chrF and retrieval baseline, decoded
with KerasHub samplers, and exported as a preset that KerasHub alone loads in a fresh process to the same greedy
translations; bad preset specs are one-line errors before a run dir exists."""

import json
import subprocess
import sys

import pytest

from conftest import read_json
from test_sentiment import save_tiny_bert_preset
from test_text_generation_preset import MERGES, byte_symbols, one_line
from test_translation import toy_pairs, write_tsv

PRESET_CLI = ["--epochs", "1", "--quiet", "--batch-size", "16", "--set", "learning_rate=1e-2", "--set", "beam_size=2",
              "--set", "examples=2", "--set", "image_summary_every=0"]


def save_tiny_bart_preset(path) -> str:
    """A 1-layer BART `Seq2SeqLM` (width 16) on a byte-level vocabulary with a few merges (every byte has a
    token, so any text tokenizes), saved with `save_to_preset`."""
    import keras_hub

    vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<mask>": 3}
    for symbol in [*byte_symbols(), *(merge.replace(" ", "") for merge in MERGES)]:
        vocabulary.setdefault(symbol, len(vocabulary))
    tokenizer = keras_hub.models.BartTokenizer(vocabulary=vocabulary, merges=MERGES)
    backbone = keras_hub.models.BartBackbone(vocabulary_size=len(vocabulary), num_layers=1, num_heads=2,
                                             hidden_dim=16, intermediate_dim=32, max_sequence_length=64)
    preprocessor = keras_hub.models.BartSeq2SeqLMPreprocessor(tokenizer, encoder_sequence_length=32,
                                                              decoder_sequence_length=32)
    keras_hub.models.BartSeq2SeqLM(backbone, preprocessor).save_to_preset(str(path))
    return str(path)


@pytest.fixture(scope="module")
def bart(tmp_path_factory):
    return save_tiny_bart_preset(tmp_path_factory.mktemp("bart") / "preset")


@pytest.mark.slow
def test_a_bart_preset_translates_and_exports(cli, tmp_path, bart):
    pairs = write_tsv(tmp_path / "pairs.tsv", toy_pairs())
    run = tmp_path / "run"
    code, out, err = cli("translation", "train", "--dataset", pairs, "--preset", bart, "--output-dir", run,
                         *PRESET_CLI, "--set", "eval_sentences=4")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    test = metrics["test"]
    assert {"bleu", "chrf", "bleu_beam", "chrf_beam", "loss", "perplexity", "token_loss", "token_accuracy"} <= set(test)
    assert test["sentences"] == 4 and test["beam_size"] == 2 and test["words"] > 0 and test["tokens"] > 0
    # The loss per word token: the same nats as per preset token, over the suite's word count.
    assert test["loss"] * test["words"] == pytest.approx(test["token_loss"] * test["tokens"])
    assert set(metrics["baselines"]) == {"retrieval"} and metrics["config"]["preset"] == bart
    lengths = metrics["data"]["preset_encoder_length"], metrics["data"]["preset_decoder_length"]
    assert all(3 < n <= 64 for n in lengths)
    assert "| source | reference | greedy | beam 2 |" in (run / "examples" / "translations.md").read_text("utf-8")

    code, out, err = cli("translation", "evaluate", "--run", run)
    assert code == 0 and f"bleu={test['bleu']:.4f}" in out, err

    sentences = ["Der Hund ist groß.", "Die Katze ist nicht sehr müde."]
    code, out, err = cli("translation", "predict", "--run", run, *sentences)
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and [r["source"] for r in records] == sentences and records[0]["beam_size"] == 2, err
    code, beam, err = cli("translation", "translate", "--run", run, "--beam-size", "2", "--length-penalty", "1",
                          *sentences)
    assert code == 0 and beam == "\n".join(r["beam"] for r in records) + "\n", err
    assert "--length-penalty does not apply" in err

    code, out, err = cli("translation", "export", "--run", run, "--format", "preset", "--path", tmp_path / "out")
    assert code == 0 and "KerasHub preset written" in out, err
    # A fresh process with KerasHub alone (no dlsuite) loads the folder, its packer lengths included, and writes
    # the same greedy translations.
    script = ("import json, sys, keras_hub\n"
              "m = keras_hub.models.Seq2SeqLM.from_preset(sys.argv[1])\n"
              "p = m.preprocessor\n"
              "m.compile(sampler='greedy')\n"
              "out = m.generate(sys.argv[2:], max_length=p.decoder_sequence_length)\n"
              "print(json.dumps({'lengths': [p.encoder_sequence_length, p.decoder_sequence_length],\n"
              "                  'text': [' '.join(t.split()) for t in out]}))")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out"), *sentences],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert tuple(found["lengths"]) == lengths
    assert found["text"] == [r["greedy"] for r in records]


@pytest.mark.slow
def test_a_bart_preset_chats(cli, tmp_path, bart):
    dialogs = write_tsv(tmp_path / "dialogs.tsv", toy_pairs()[::2])  # mechanics only: 50 pairs as dialogs
    run = tmp_path / "run"
    code, out, err = cli("chatbot", "train", "--dataset", dialogs, "--preset", bart, "--output-dir", run,
                         *PRESET_CLI, "--set", "eval_sentences=4")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert {"bleu", "bleu_beam", "bleu_fallback", "perplexity", "token_perplexity", "fallback_threshold"} <= \
        set(metrics["test"])
    assert set(metrics["baselines"]) == {"retrieval", "unigram"} and metrics["test"]["sentences"] == 4
    code, out, err = cli("chatbot", "chat", "--run", run, "--fallback", "off", "Der Hund ist groß.", "Hallo")
    assert code == 0 and len(out.removesuffix("\n").split("\n")) == 2, (out, err)  # one line per message, even empty
    code, out, err = cli("chatbot", "predict", "--run", run, "Die Katze ist müde.")
    record = json.loads(out.strip().splitlines()[0])
    assert code == 0 and record["from"] in ("model", "retrieval") and "confidence" in record, err


def test_bad_presets_give_one_line_and_exit_2(cli, tmp_path, bart):
    (tmp_path / "empty").mkdir()
    bert = save_tiny_bert_preset(tmp_path / "bert")
    pairs = write_tsv(tmp_path / "pairs.tsv", toy_pairs())
    cases = (("translation", "hf://keras-io/no_such_bart", "cannot reach huggingface.co"),
             ("translation", tmp_path / "empty", "is not a KerasHub preset folder"),
             ("translation", tmp_path / "missing", "neither a local folder nor a KerasHub preset name"),
             ("translation", bert, "(a TextClassifier); translation needs a Seq2SeqLM preset"),
             ("chatbot", bert, "(a TextClassifier); chatbot needs a Seq2SeqLM preset"),
             # KerasHub's Seq2SeqLM derives from CausalLM; text_generation still refuses it.
             ("text_generation", bart, "(a Seq2SeqLM); text_generation needs a CausalLM preset"))
    for app, preset, message in cases:
        data = ["--dataset", pairs] if app != "text_generation" else []
        code, out, err = cli(app, "train", *data, "--preset", preset, "--quiet", "--output-dir", tmp_path / "run")
        assert code == 2 and message in one_line(err), (app, preset, err)
        assert not (tmp_path / "run").exists()
