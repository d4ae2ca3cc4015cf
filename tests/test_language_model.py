"""language_model tests: the corpus readers on a few files, a tiny pre-training run whose preset KerasHub and
sentiment load, and the bad inputs (no preset, the wrong kind, a vocabulary larger than the backbone)."""

from __future__ import annotations

import gzip
import json
import os
import shutil

import pytest

from apps.language_model import corpus
from apps.language_model.model import pack_texts
from common.errors import UsageError
from conftest import read_json

TINY = ["--set", "train_steps=4", "--set", "epochs=2", "--set", "vocabulary_size=200", "--set", "vocabulary_words=100", "--set", "hidden_dim=16",
        "--set", "intermediate_dim=32", "--set", "num_layers=1", "--set", "sequence_length=16", "--set",
        "warmup_steps=1", "--set", "pack_words=10", "--batch-size", "8", "--quiet"]
SENTENCES = [f"the {a} {b} sat on the {c} mat" for a in ("black", "white", "grey", "small") for b in
             ("cat", "dog", "bird", "fox") for c in ("red", "blue", "green")]


def test_wordnet_and_gcide_readers_on_a_few_lines(tmp_path, monkeypatch):
    wordnet = tmp_path / "wordnet"
    wordnet.mkdir()
    header = "  1 This software and database is being provided to you, the LICENSEE, by Princeton\n"
    line = ("00001930 03 n 02 physical_entity 0 thing(a) 1 001 @ 00001740 n 0000 | an entity that has physical "
            'existence; "a physical entity"  \n')
    for pos in ("noun", "verb", "adj", "adv"):
        (wordnet / f"data.{pos}").write_text(header + (line if pos == "noun" else ""), encoding="utf-8")
    assert corpus.wordnet_texts(str(wordnet)) == [
        'physical entity, thing: an entity that has physical existence; "a physical entity"']
    gcide = tmp_path / "gcide.dict.dz"
    with gzip.open(gcide, "wt", encoding="utf-8") as fh:
        fh.write("00-database-url\n   ftp\n\n Begin file 1 of 26:  Letter A\n  * * *\n\n"
                 'Abditive \\Ab"di*tive\\, a. [L. abditivus.]\n   Having the quality of hiding. --Bailey.\n'
                 "   [1913 Webster]\n\nA b\n")
    assert corpus.gcide_texts(str(gcide)) == ["Abditive, a. Having the quality of hiding."]
    monkeypatch.setenv("DLSUITE_WORDNET_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(UsageError, match=r"Debian package wordnet-base\): install it with `apt-get install wordnet-base`"):
        corpus.check_sources()


def test_splits_by_hash_and_packing(tmp_path):
    assert corpus.split_of("A  Text") == corpus.split_of("a text")  # the same words, the same split
    shares = [corpus.split_of(f"sentence number {i}") for i in range(5000)]
    assert 0.005 < shares.count("test") / 5000 < 0.02 and shares.count("train") > 4800
    assert pack_texts(["a b", "c d", "e f g h", "i"], 4) == ["a b c d", "e f g h", "i"]
    text = tmp_path / "few.txt"
    text.write_text("\n".join(SENTENCES[:45]) + "\n\n", encoding="utf-8")
    data = corpus.load_corpus(str(text))
    assert sum(data.sizes.values()) == 45 and data.sizes["validation"] and data.sizes["test"]
    text.write_text("too few\n", encoding="utf-8")
    with pytest.raises(UsageError, match="at least 40"):
        corpus.load_corpus(str(text))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny pre-training run on a text file, and its task exported as a preset folder."""
    from dlsuite.cli import run

    root = tmp_path_factory.mktemp("lm")
    text = root / "corpus.txt"
    text.write_text("\n".join(SENTENCES * 3) + "\n", encoding="utf-8")
    run_dir = root / "run"
    assert run(["language_model", "train", "--dataset", str(text), "--output", str(run_dir), *TINY]) == 0
    assert run(["language_model", "export", "--run", str(run_dir), "--format", "preset"]) == 0
    return run_dir


def test_pretraining_reports_and_writes_a_preset_kerashub_loads(pretrained):
    import keras_hub

    metrics = read_json(pretrained / "metrics.json")
    assert metrics["test"]["masked_tokens"] > 0 and metrics["test"]["perplexity"] > 1
    assert {"masked_accuracy", "perplexity"} <= metrics["baselines"]["unigram"].keys()
    preset = str(pretrained / "preset")
    classifier = keras_hub.models.TextClassifier.from_preset(preset, num_classes=2)
    assert type(classifier).__name__ == "BertTextClassifier"
    masked = keras_hub.models.MaskedLM.from_preset(preset)
    assert masked.preprocessor.sequence_length == 16


def test_predict_fills_in_the_mask(cli, pretrained):
    code, out, err = cli("language_model", "predict", "--run", pretrained, "the black cat sat on the [MASK] mat")
    assert code == 0, err
    assert len(json.loads(out.strip().splitlines()[-1])["masks"][0]) == 5
    code, out, err = cli("language_model", "predict", "--run", pretrained, "no mask here")
    assert code == 2 and "has no [MASK]" in err


def test_sentiment_fine_tunes_from_the_pretrained_preset(cli, tmp_path, pretrained):
    from test_sentiment import review_rows, write_csv

    reviews = write_csv(tmp_path / "reviews.csv", review_rows(60))
    code, out, err = cli("sentiment", "train", "--dataset", reviews, "--preset", pretrained / "preset", "--epochs", "1",
                         "--batch-size", "16", "--set", "sequence_length=16", "--set", "examples=0", "--output",
                         tmp_path / "sentiment", "--quiet")
    assert code == 0, err
    assert read_json(tmp_path / "sentiment" / "metrics.json")["test"]["accuracy"] >= 0


def test_bad_presets_give_one_line_exit_2_and_write_nothing(cli, tmp_path, pretrained):
    from test_sentiment import save_tiny_bert_preset

    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    mismatched = tmp_path / "mismatched"
    shutil.copytree(pretrained / "preset", mismatched)
    vocabulary = mismatched / "assets" / "tokenizer" / "vocabulary.txt"
    vocabulary.write_text(vocabulary.read_text(encoding="utf-8") + "".join(f"extra{i}\n" for i in range(300)),
                          encoding="utf-8")
    classifier = save_tiny_bert_preset(tmp_path / "classifier")
    for preset, message in (
        (tmp_path / "empty", "is not a KerasHub preset folder"),
        (mismatched, "the tokenizer does not belong to this backbone"),
        (classifier, "is a BertTextClassifier preset (a TextClassifier); language_model needs a MaskedLM preset"),
    ):
        out_dir = tmp_path / "out"
        code, out, err = cli("language_model", "train", "--dataset", text, "--preset", preset, "--output", out_dir,
                             *TINY)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (preset, err)
        assert not out_dir.exists()
    from test_sentiment import review_rows, write_csv

    reviews = write_csv(tmp_path / "reviews.csv", review_rows(60))
    code, out, err = cli("sentiment", "train", "--dataset", reviews, "--preset", mismatched, "--output", tmp_path / "s",
                         "--quiet")
    assert code == 2 and "does not belong to this backbone" in err and not (tmp_path / "s").exists()
    code, out, err = cli("language_model", "train", "--dataset", tmp_path / "nosuch.txt", "--output", tmp_path / "o")
    assert code == 2 and "dataset not found" in err and not (tmp_path / "o").exists()


def test_the_own_preset_name_resolves_to_the_cached_run(tmp_path, pretrained, capsys):
    """`dlsuite:bert_small_en` is the default config's cached run (here the tiny run put where it would be),
    written as a preset folder on first use and reused after."""
    from apps.language_model.config import LanguageModelConfig
    from apps.language_model.pretrained import resolve_preset
    from apps.language_model.task import LanguageModel
    from common.pretrained import cached_run_dir

    data_dir = str(tmp_path / "tfds")
    cached = cached_run_dir(LanguageModel(), LanguageModelConfig(data_dir=data_dir), data_dir)
    shutil.copytree(pretrained, cached, ignore=shutil.ignore_patterns("preset"))
    assert resolve_preset("some/folder", data_dir) == "some/folder"
    preset = resolve_preset("dlsuite:bert_small_en", data_dir, app="sentiment")
    assert preset == os.path.join(cached, "preset") and os.path.isfile(os.path.join(preset, "task.json"))
    assert "(cached)" in capsys.readouterr().out
    assert resolve_preset("dlsuite:bert_small_en", data_dir) == preset
