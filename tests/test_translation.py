"""Translation tests: the dictionary filter and split, TSV and TFDS loading with their errors, both model
families (round trips that keep the vocabularies, causal decoders, training), greedy and beam-search
decoding (compiled and incremental, equal to re-running the prefix), and the CLI end to end (train, evaluate,
predict, translate, export)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from apps.translation.data import dictionary_pairs, load_pairs
from common.errors import UsageError
from common.seq2seq.baseline import retrieval_translations, translation_scores
from common.seq2seq.data import read_tsv, split_pairs
from common.seq2seq.decoding import FullTranslator, Translator, as_sources, compiled_steps
from common.seq2seq.model import build_translator, model_vocabularies
from common.seq2seq.tokens import decode_ids, encode_targets, learn_vocabulary, tokenize
from conftest import read_json

SUBJECTS = [("Der Hund", "The dog"), ("Die Katze", "The cat"), ("Der Mann", "The man"), ("Die Frau", "The woman"),
            ("Das Kind", "The child")]
ADJECTIVES = [("groß", "big"), ("klein", "small"), ("müde", "tired"), ("glücklich", "happy"), ("hungrig", "hungry")]
TINY = {"transformer": dict(embed_dim=16, depth=1, heads=2, mlp_dim=32, dropout=0.0),
        "rnn": dict(embed_dim=16, units=16, cell="lstm", attention="bahdanau", dropout=0.0)}
TINY_CLI = ["--set", "embed_dim=16", "--set", "depth=1", "--set", "heads=2", "--set", "mlp_dim=32", "--set", "units=16",
            "--set", "max_length=12", "--set", "beam_size=2", "--set", "examples=3", "--batch-size", "16"]


def toy_pairs() -> list[tuple[str, str]]:
    """100 German-English sentence pairs of a tiny grammar (a learnable toy, for mechanics only)."""
    pairs = []
    for de_subject, en_subject in SUBJECTS:
        for de_adjective, en_adjective in ADJECTIVES:
            for de_not, en_not in (("", ""), ("nicht ", "not ")):
                for de_very, en_very in (("", ""), ("sehr ", "very ")):
                    pairs.append((f"{de_subject} ist {de_not}{de_very}{de_adjective}.",
                                  f"{en_subject} is {en_not}{en_very}{en_adjective}."))
    return pairs


def write_tsv(path, pairs) -> str:
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return str(path)


@pytest.fixture
def pairs_tsv(tmp_path):
    return write_tsv(tmp_path / "pairs.tsv", toy_pairs())


@pytest.fixture(scope="module")
def vocabularies():
    pairs = toy_pairs()
    return (learn_vocabulary([s for s, _ in pairs], max_tokens=100),
            learn_vocabulary([t for _, t in pairs], max_tokens=100, target=True))


DICTIONARY = """# Version :: devel 2023-01-30
# License :: GPL Version 2 or later
gut {adj} | Das ist gut. | Das ist sehr gut. [ugs.] :: good | That is good.; It's good. | That's very good. [coll.]
Hund {m} [zool.] | Hunde {pl} :: dog | dogs
Er kommt (bestimmt) morgen. :: He is (surely) coming tomorrow.
Das Rad eiert ein wenig. | Ein Satz zu viel. :: The wheel wobbles slightly.
Wir haben es gut / schlecht getroffen. :: We got a good/bad deal.
Was ist das Besondere an …? :: What is so special about …?
Kommt! :: Come!
Das ist gut. :: That is good.
ein bisschen {adv} | Sie ist ein bisschen müde. :: a bit | She is a bit tired.
Sie ist ein bisschen müde. :: She is slightly tired.
"""


def test_dictionary_filter_keeps_aligned_sentences():
    pairs = dictionary_pairs(DICTIONARY.splitlines(keepends=True))
    assert pairs == [
        ("Das ist gut.", "That is good."),  # first synonym; the duplicate line further down is dropped
        ("Das ist sehr gut.", "That's very good."),  # annotations removed
        ("Er kommt morgen.", "He is coming tomorrow."),  # optional words in parentheses removed
        ("Sie ist ein bisschen müde.", "She is a bit tired."),
        ("Sie ist ein bisschen müde.", "She is slightly tired."),
    ]  # not: words, misaligned alternatives, `/` alternatives, `…` gaps, sentences under three words


def test_split_keeps_every_sentence_in_one_split():
    pairs = toy_pairs() + [("Der Hund ist groß.", "The dog is large."), ("Der Hund ist riesig.", "The dog is big.")]
    parts = split_pairs(pairs, seed=0)
    assert split_pairs(pairs, seed=0) == parts and split_pairs(pairs, seed=1) != parts
    assert sorted(p for part in parts.values() for p in part) == sorted(pairs)
    assert 80 <= len(parts["train"]) <= 84 and 9 <= len(parts["validation"]) <= 12 and 9 <= len(parts["test"]) <= 12
    for side in (0, 1):
        seen = [{p[side] for p in parts[s]} for s in ("train", "validation", "test")]
        assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def test_de_en_sentences_builder_and_its_errors(tmp_path, monkeypatch):
    lines = [f"{de} :: {en}\n" for de, en in toy_pairs()[:40]] + ["Hund {m} :: dog\n"]
    dictionary = tmp_path / "de-en"
    dictionary.write_text("# Version :: test\n" + "".join(lines), encoding="utf-8")
    monkeypatch.setenv("DLSUITE_TRANS_DE_EN", str(dictionary))
    data = load_pairs("de_en_sentences", data_dir=str(tmp_path / "tfds"))
    assert data.direction == "de-en" and sum(data.sizes.values()) == 40
    assert data.sizes == {"train": 32, "validation": 4, "test": 4}
    assert all(s.startswith(("Der", "Die", "Das")) and t.startswith("The") for s, t in zip(data.sources["train"],
                                                                                        data.targets["train"]))
    reverse = load_pairs("de_en_sentences", data_dir=str(tmp_path / "tfds"), direction="en-de")
    assert reverse.direction == "en-de" and reverse.sources["test"] == data.targets["test"]
    with pytest.raises(UsageError, match="unknown direction 'de-fr' for de_en_sentences: use de-en or en-de"):
        load_pairs("de_en_sentences", data_dir=str(tmp_path / "tfds"), direction="de-fr")
    monkeypatch.setenv("DLSUITE_TRANS_DE_EN", str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="missing: install it with `apt-get install trans-de-en`"):
        load_pairs("de_en_sentences", data_dir=str(tmp_path / "tfds2"))


def test_tsv_files_and_their_errors(tmp_path, pairs_tsv):
    assert read_tsv(pairs_tsv)[:1] == [("Der Hund ist groß.", "The dog is big.")]
    data = load_pairs(pairs_tsv)
    assert data.direction == "source-target" and data.sizes == {"train": 80, "validation": 10, "test": 10}

    def fails(content: bytes, message: str, **kwargs):
        path = tmp_path / "bad.tsv"
        path.write_bytes(content)
        with pytest.raises(UsageError, match=message):
            load_pairs(str(path), **kwargs)

    fails(b"", "has no sentence pairs")
    fails(b"\n  \n", "has no sentence pairs")
    fails("Gr\xfc\xdfe\tgreetings\n".encode("latin-1"), "is not UTF-8 text \\(line 1")
    fails(b"Ja.\tYes.\nNein. No.\n", "line 2: expected 2 tab-separated columns .* found 1")
    fails(b"Ja.\tYes.\tOui.\n", "line 1: expected 2 tab-separated columns .* found 3")
    fails(b"Ja.\t \n", "line 1: empty target sentence")
    fails(b"Ja.\tYes.\n", "empty validation split")
    with pytest.raises(UsageError, match="a TSV file is translated from its first column"):
        load_pairs(pairs_tsv, direction="en-de")
    with pytest.raises(UsageError, match="TSV file not found"):
        load_pairs(str(tmp_path / "missing.tsv"))
    with pytest.raises(UsageError, match="unknown dataset 'nonsense'"):
        load_pairs("nonsense")


def ted_like(builder, split=None, **kwargs):
    pairs = toy_pairs()[:20] if split == "train" else toy_pairs()[20:25]
    return tf.data.Dataset.from_tensor_slices({"pt": [s for s, _ in pairs], "en": [t for _, t in pairs]})


def test_tfds_ted_hrlr_translate_under_mock_data():
    with tfds.testing.mock_data(as_dataset_fn=ted_like):
        data = load_pairs("tfds:ted_hrlr_translate/pt_to_en")
        assert data.direction == "pt-en" and data.sizes == {"train": 20, "validation": 5, "test": 5}
        assert data.sources["train"][0] == "Der Hund ist groß." and data.targets["train"][0] == "The dog is big."
        reverse = load_pairs("tfds:ted_hrlr_translate/pt_to_en", direction="en-pt")
        assert reverse.sources["test"] == data.targets["test"]
        with pytest.raises(UsageError, match="unknown direction 'de-en' .* use pt-en or en-pt"):
            load_pairs("tfds:ted_hrlr_translate/pt_to_en", direction="de-en")


def test_tokens_targets_and_baseline():
    assert tokenize(["Mary’s Grüße, „schön“!"]) == [["mary", "’", "s", "grüße", ",", "„", "schön", "“", "!"]]
    vocabulary = learn_vocabulary(["The dog is big.", "The cat is big."], max_tokens=6, target=True)
    assert vocabulary == ["", "[UNK]", "[start]", "[end]", ".", "big"]  # ties alphabetical, capped at 6
    inputs, labels, lengths = encode_targets(["The dog is big."], vocabulary, max_length=4)
    assert inputs.tolist() == [[2, 1, 1, 1]] and labels.tolist() == [[1, 1, 1, 5]] and lengths.tolist() == [5]
    assert decode_ids([5, 4, 3, 4], vocabulary) == "big."
    assert translation_scores(["the dog is big."], ["The dog is big."]) == {"bleu": 100.0, "chrf": 100.0}
    pairs = toy_pairs()
    retrieved = retrieval_translations([s for s, _ in pairs[:50]], [t for _, t in pairs[:50]], ["Der Hund ist müde."])
    assert retrieved == ["The dog is tired."]


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_models_round_trip_with_their_vocabularies(tmp_path, vocabularies, family):
    keras.utils.set_random_seed(0)
    model = build_translator(*vocabularies, model=family, max_length=10, **TINY[family])
    sources = ["Der Hund ist groß.", "Die Katze ist nicht sehr müde.", "Wörter, nie gesehen"]
    ids = np.array([[2, 5, 6, 7, 8, 0], [2, 5, 6, 9, 0, 0], [2, 4, 0, 0, 0, 0]], np.int32)
    logits = keras.ops.convert_to_numpy(model([as_sources(sources), ids]))
    assert logits.shape == (3, 6, len(vocabularies[1]))
    changed = ids.copy()
    changed[:, 3:] = 9
    # Causal: a (non-padding) position t sees the ids up to t only.
    seen = ids[:, :3] != 0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model([as_sources(sources), changed]))[:, :3][seen],
                               logits[:, :3][seen], atol=1e-5)
    translations = Translator(model).translate(sources, beam_size=2)
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras")
    assert model_vocabularies(again) == vocabularies
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again([as_sources(sources), ids])), logits, atol=1e-5)
    assert Translator(again).translate(sources, beam_size=2) == translations


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_source_padding_changes_nothing(vocabularies, family):
    """A sentence's logits are the same alone and padded beside a longer one, in every decoder block."""
    keras.utils.set_random_seed(2)
    model = build_translator(*vocabularies, model=family, max_length=10,
                              **{**TINY[family], **({"depth": 2} if family == "transformer" else {})})
    short, long = "Der Hund.", "Die Katze ist nicht sehr müde."
    target = np.array([[2, 5, 6]], np.int32)
    alone = keras.ops.convert_to_numpy(model([as_sources([short]), target]))
    batch = keras.ops.convert_to_numpy(model([as_sources([short, long]), np.repeat(target, 2, axis=0)]))
    np.testing.assert_allclose(batch[:1], alone, atol=1e-5)


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_beam_search_against_greedy(vocabularies, family):
    keras.utils.set_random_seed(1)
    model = build_translator(*vocabularies, model=family, max_length=8, **TINY[family])
    translator = Translator(model, batch_size=4)  # two batches of sentences
    sources = [s for s, _ in toy_pairs()[::15]]
    greedy = translator.greedy(sources)
    assert translator.beam_search(sources, beam_size=1) == greedy
    beam = translator.beam_search(sources, beam_size=4)
    assert all(len(ids) <= 8 for ids in greedy + beam)
    assert np.all(translator.log_probability(sources, beam) >= translator.log_probability(sources, greedy) - 1e-6)


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_compiled_incremental_decoding_equals_full_decoding(vocabularies, family):
    """The compiled, cached decoder gives full decoding's greedy and beam-search results, traced once per model."""
    keras.utils.set_random_seed(4)
    options = {**TINY[family], **({"depth": 2} if family == "transformer" else {"cell": "gru", "attention": "luong"})}
    model = build_translator(*vocabularies, model=family, max_length=6, **options)
    sources = [s for s, _ in toy_pairs()[::40]] + ["Wörter, nie gesehen, in einem viel längeren Satz als die anderen"]
    fast, full = Translator(model, batch_size=3), FullTranslator(model, batch_size=3)  # batches of 3 and 1 sentences
    assert fast.greedy(sources) == full.greedy(sources)
    assert fast.beam_search(sources, 2, 0.6) == full.beam_search(sources, 2, 0.6)
    assert fast.beam_search(sources, 1) == fast.greedy(sources)
    steps = compiled_steps(model)
    assert steps.encode.experimental_get_tracing_count() == 1  # every batch size and source length: one trace
    assert steps._compiled_step.experimental_get_tracing_count() == 1


def test_training_lowers_the_loss(vocabularies):
    pairs = toy_pairs()
    keras.utils.set_random_seed(0)
    model = build_translator(*vocabularies, model="transformer", max_length=10, **TINY["transformer"])
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0))
    inputs, labels, _ = encode_targets([t for _, t in pairs], vocabularies[1], 10)
    x = {"source": tf.constant(as_sources([s for s, _ in pairs]).astype(str)), "target": inputs}
    history = model.fit(x, labels, epochs=6, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_end_to_end_cli_and_bad_inputs(cli, tmp_path, pairs_tsv):
    run = tmp_path / "run"
    code, out, err = cli("translation", "train", "--dataset", pairs_tsv, "--epochs", "2", "--quiet",
                         "--output-dir", run, *TINY_CLI, "--set", "image_summary_every=1")
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert {"bleu", "chrf", "bleu_beam", "chrf_beam", "loss", "token_accuracy", "sentences"} <= set(metrics["test"])
    assert metrics["test"]["sentences"] == 10 and metrics["test"]["beam_size"] == 2
    assert set(metrics["baselines"]["retrieval"]) == {"bleu", "chrf"}
    assert metrics["data"]["direction"] == "source-target" and metrics["data"]["sizes"]["train"] == 80
    examples = (run / "examples" / "translations.md").read_text(encoding="utf-8")
    assert "| source | reference | greedy | beam 2 |" in examples and examples.count("\n") >= 4
    assert os.listdir(run / "logs" / "test")

    code, out, err = cli("translation", "evaluate", "--run", run)
    assert code == 0 and f"bleu={metrics['test']['bleu']:.4f}" in out, err
    code, out, err = cli("translation", "translate", "--run", run, "Der Hund ist groß.", "Die Frau ist müde.")
    assert code == 0 and out.count("\n") == 2, err  # one line per sentence (an untrained model may say nothing)
    greedy = out.split("\n")
    long = " ".join(["Der Hund ist sehr"] * 5) + " groß."
    code, out, err = cli("translation", "translate", "--run", run, "--beam-size", "3", long)
    assert code == 0 and out.count("\n") == 1
    assert "warning: sentence 1 has 22 tokens; the model reads only the first 12" in err
    code, out, err = cli("translation", "predict", "--run", run, "Der Hund ist groß.")
    assert code == 0 and '"greedy"' in out and '"beam_size": 2' in out and greedy[0] in out, err

    code, out, err = cli("translation", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model")).signatures["serving_default"]
    sources, ids = tf.constant([["Der Hund ist groß."]]), tf.constant([[2, 4, 5]], tf.int32)
    expected = keras.saving.load_model(run / "model.keras")([sources, ids])
    np.testing.assert_allclose(served(source=sources, target=ids)["logits"].numpy(), expected, atol=1e-5)
    flat = served(source=tf.constant(["Der Hund ist groß."]), target=ids)["logits"]  # a 1-D batch of strings too
    np.testing.assert_allclose(flat.numpy(), expected, atol=1e-5)

    reverse = write_tsv(tmp_path / "reverse.tsv", [(t, s) for s, t in toy_pairs()])
    for args, message in (
        (("translate", "--run", run), "translate needs sentences"),
        (("translate", "--run", run, "Ja.", " "), "translate got an empty sentence"),
        (("translate", "--run", run, "--beam-size", "0", "Ja."), "--beam-size must be >= 1"),
        (("evaluate", "--run", run, "--dataset", reverse), "the model's vocabularies do not match"),
        (("train", "--dataset", pairs_tsv, "--direction", "de-en", "--output-dir", tmp_path / "x"),
         "a TSV file is translated from its first column"),
        (("train", "--direction", "german", "--output-dir", tmp_path / "x"), "unknown direction 'german'"),
        (("train", "--dataset", str(tmp_path / "none.tsv"), "--output-dir", tmp_path / "x"), "TSV file not found"),
    ):
        code, out, err = cli("translation", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "x").exists()


def test_rnn_trains_from_the_cli(cli, tmp_path, pairs_tsv):
    code, out, err = cli("translation", "train", "--dataset", pairs_tsv, "--epochs", "1", "--quiet",
                         "--output-dir", tmp_path / "rnn", *TINY_CLI, "--set", "model=rnn", "--set", "cell=lstm",
                         "--set", "bidirectional=false", "--set", "image_summary_every=0")
    assert code == 0, err
    metrics = read_json(tmp_path / "rnn" / "metrics.json")
    assert metrics["config"]["model"] == "rnn" and metrics["parameters"] > 0


# --- bible_es_en: SWORD verses ------------------------------------------------------------------
SWORD_INSTALLED = all(os.path.isdir(f"/usr/share/sword/modules/texts/ztext/{module}")
                      for module in ("spaRV1909eb", "engWEB2015eb"))


def test_osis_markup_is_cleaned():
    from apps.translation.bible import clean_osis

    web = ('<div type="x-milestone" subType="x-preverse" sID="pv1"/><title canonical="true" type="psalm">A Psalm by '
           'David.</title> <l level="1" sID="gen1"/><w lemma="strong:H0430">God</w><note placement="foot"><reference '
           'type="annotateRef">1:1 </reference>The Hebrew word rendered “God” is “Elohim”.</note><w lemma="strong:'
           'H1254">created</w> “<w lemma="strong:H0216">light</w>”.<l eID="gen1" level="1"/> <title type="x-gen">'
           'A heading</title><speaker>Beloved</speaker> Amen. <div canonical="true" eID="gen2" osisID="Rev" '
           'type="book"/> <div sID="gen3" type="glossary"/> Abaddon is Hebrew for destruction.')
    assert clean_osis(web) == "A Psalm by David. God created “light”. Amen."
    rv = ('<w lemma="strong:H3318">sáca</w><transChange type="added">lo</transChange> <w lemma="strong:H8033">hay '
          'allí</w><transChange type="added">también</transChange><w lemma="strong:H0916">bdelio</w>, y <w>Beth-baal'
          '</w>-<w>meón</w>. (<w lemma="strong:H5542">Selah</w>.)  <chapter eID="Gen.1"/>')
    assert clean_osis(rv) == "sácalo hay allí también bdelio, y Beth-baal-meón. (Selah.)"


def test_verse_alignment_drops_what_does_not_match():
    from apps.translation.bible import align_verses

    def chapter(book, texts):
        return {(book, 1, v): text for v, text in enumerate(texts, start=1)}

    lengths = [30, 60, 45, 90, 35, 70, 50, 80]
    words = ["x" * n for n in lengths]
    spanish = {**chapter("Gen", words), **chapter("Exod", ["", *words[1:]]),
               **chapter("Lev", ["x" * 300, *words[1:]]), **chapter("Num", words), **chapter("Deut", words)}
    english = {**chapter("Gen", words), **chapter("Exod", words), **chapter("Lev", words),
               **chapter("Num", ["x" * 40, *words[:-1]]),  # numbered one verse later than the Spanish
               **chapter("Deut", words + ["x" * 40])}  # a verse more in this versification
    pairs, left_out = align_verses(spanish, english)
    kept = {ref for ref, _, _ in pairs}
    assert {ref[0] for ref in kept} == {"Gen", "Exod", "Lev"} and len([r for r in kept if r[0] == "Gen"]) == 8
    assert ("Exod", 1, 1) not in kept and ("Exod", 1, 2) not in kept and ("Exod", 1, 3) in kept
    assert ("Lev", 1, 1) not in kept and ("Lev", 1, 2) in kept
    assert left_out == {"other_verse_count": 8, "shifted_chapter": 8, "empty": 1, "next_to_empty": 1,
                        "length_ratio": 1}


def test_bible_es_en_builder_splits_by_book(tmp_path, monkeypatch):
    """The builder on a stand-in for the modules (the real ones are read in the next test): aligned, by book."""
    import apps.translation.bible as bible

    books = ["Gen", "Josh", "Judg", "Prov", "Job", "Matt", "John", "Acts", "Rom", "1Cor", "Rev"]
    verses = {lang: {(book, c, v): f"{lang} {book} {c}:{v} " + "palabra " * (v % 5 + 3)
                     for book in books for c in (1, 2) for v in range(1, 6)} for lang in ("es", "en")}
    monkeypatch.setattr(bible, "sword_bible", lambda module: {"spaRV1909eb": "es", "engWEB2015eb": "en"}[module[0]])
    monkeypatch.setattr(bible, "verse_texts", lambda language: verses[language])
    data = load_pairs("bible_es_en", data_dir=str(tmp_path / "tfds"))
    assert data.direction == "es-en" and sum(data.sizes.values()) == len(books) * 10
    assert data.sizes == {"train": 30, "validation": 40, "test": 40}
    book_of = {split: {s.split()[1] for s in data.sources[split]} for split in data.sources}
    assert book_of == {"train": {"Gen", "Matt", "Rev"}, "validation": set(bible.VALIDATION_BOOKS),
                       "test": set(bible.TEST_BOOKS)}
    assert all(s.replace("es ", "", 1) == t.replace("en ", "", 1) for s, t in zip(data.sources["test"],
                                                                                data.targets["test"]))
    reverse = load_pairs("bible_es_en", data_dir=str(tmp_path / "tfds"), direction="en-es")
    assert reverse.sources["test"] == data.targets["test"]
    with pytest.raises(UsageError, match="unknown direction 'es-de' for bible_es_en: use es-en or en-es"):
        load_pairs("bible_es_en", data_dir=str(tmp_path / "tfds"), direction="es-de")


@pytest.mark.slow  # reads both Bibles: about 5 s on a quiet machine
@pytest.mark.slow  # reads both Bibles: about 12 s on the 2 shared cores
@pytest.mark.skipif(not SWORD_INSTALLED, reason="needs Debian's sword-text-sparv and sword-text-web")
def test_installed_sword_modules_align_by_book():
    from apps.translation.bible import ENGLISH, SPANISH, align_verses, split_by_book, sword_bible, verse_texts

    spanish, english = verse_texts(sword_bible(SPANISH)), verse_texts(sword_bible(ENGLISH))
    assert spanish["Gen", 1, 1] == "EN el principio crió Dios los cielos y la tierra."
    assert english["Gen", 1, 1] == "In the beginning, God created the heavens and the earth."
    assert english["Rev", 22, 21] == "The grace of the Lord Jesus Christ be with all the saints. Amen."  # no glossary
    pairs, left_out = align_verses(spanish, english)
    assert 30_000 < len(pairs) < 31_102 and sum(left_out.values()) == len(spanish) - len(pairs)
    refs = {ref for ref, _, _ in pairs}
    assert ("Num", 13, 1) not in refs and ("3John", 1, 1) not in refs and ("John", 3, 16) in refs
    assert not any("<" in es or "<" in en or "strong:" in en for _, es, en in pairs)
    parts = split_by_book(pairs)
    books = [{ref[0] for ref, _, _ in parts[split]} for split in ("train", "validation", "test")]
    assert not (books[0] & books[1] or books[0] & books[2] or books[1] & books[2])
    assert all(0.08 < len(parts[split]) / len(pairs) < 0.12 for split in ("validation", "test"))


def test_missing_sword_module_names_its_package(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DLSUITE_SWORD_DIR", str(tmp_path / "no-sword"))
    with pytest.raises(UsageError, match=r"spaRV1909eb \(Reina-Valera 1909\) is missing from .*: install it with "
                                         r"`apt-get install sword-text-sparv`"):
        load_pairs("bible_es_en", data_dir=str(tmp_path / "tfds"))
    code, _, err = cli("translation", "train", "--dataset", "bible_es_en", "--epochs", "1", "--quiet",
                       "--output-dir", str(tmp_path / "run"))
    assert code == 2 and "apt-get install sword-text-sparv" in err and "Traceback" not in err
