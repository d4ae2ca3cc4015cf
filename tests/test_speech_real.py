"""Speech on real recordings: the evaluation-only TFDS builders of Debian pocketsphinx-testdata and
klettres-data (a few real files each), the PocketSphinx baseline wrapper (a real digit clip gives its
digits, keyword search hears "go"), the shape of both applications' `real_world` sections, the
training augmentation layers and the `_unknown_` word fragments."""

import os

import keras
import numpy as np
import pytest

from apps.keyword_spotting.data import unknown_speech
from apps.keyword_spotting.model import build_keyword_model
from apps.keyword_spotting.real_world import keyword_scores, real_world_keywords, transcript_keywords
from apps.speech_recognition.model import build_ctc_model
from apps.speech_recognition.task import SpeechRecognition, digit_words
from common.audio import SAMPLE_RATE
from common.audio.augment import RoomSimulation, SpecAugment
from common.audio.real import (KLETTRES_DATA, POCKETSPHINX_DATA, KlettresWords, PocketsphinxUtterances, RealClips,
                               klettres_files, pocketsphinx_files, read_audio_file)
from common.audio.synthesis import Synthesizer, random_delivery
from common.audio.wav import check_speech
from common.errors import UsageError

needs_pocketsphinx_data = pytest.mark.skipif(not os.path.isdir(POCKETSPHINX_DATA),
                                             reason="apt-get install pocketsphinx-testdata")
needs_klettres = pytest.mark.skipif(not os.path.isdir(KLETTRES_DATA), reason="apt-get install klettres-data")
TIDIGITS = "tidigits/dhd.2934z.raw"


class FewUtterances(PocketsphinxUtterances):
    name = "few_pocketsphinx_utterances"

    @classmethod
    def files(cls):
        return [f for f in pocketsphinx_files() if f[0] in ("cards/004.wav", TIDIGITS)]


class FewKlettres(KlettresWords):
    name = "few_klettres_words"

    @classmethod
    def files(cls):
        return [f for f in klettres_files() if f[0] in ("en/syllab/no.ogg", "en_GB/alpha/b.ogg")]


@needs_pocketsphinx_data
def test_pocketsphinx_utterances_builder(tmp_path):
    files = dict(pocketsphinx_files())
    assert len(files) == 12 and files["cards/004.wav"] == "five five" and files[TIDIGITS].split()[0] == "two"
    builder = FewUtterances(data_dir=str(tmp_path))
    builder.download_and_prepare()
    rows = {r["file"].decode(): r for r in builder.as_dataset(split="test").as_numpy_iterator()}
    assert set(rows) == {"cards/004.wav", TIDIGITS} and rows["cards/004.wav"]["text"] == b"five five"
    audio = np.frombuffer(rows[TIDIGITS]["audio"], "<i2")
    assert len(audio) == 38400 and audio.std() > 100  # 2.4 s of 16 kHz speech


@needs_klettres
def test_klettres_builder_decodes_ogg_at_16k(tmp_path):
    files = klettres_files()
    assert len(files) == 94 and ("en/syllab/no.ogg", "no") in files and ("en_GB/alpha/b.ogg", "b") in files
    builder = FewKlettres(data_dir=str(tmp_path))
    builder.download_and_prepare()
    rows = list(builder.as_dataset(split="test").as_numpy_iterator())
    assert sorted(r["text"] for r in rows) == [b"b", b"no"]
    for r in rows:  # 44.1 kHz OGG (some stereo) resampled to 16 kHz mono, 1.5-2.4 s
        audio = np.frombuffer(r["audio"], "<i2")
        assert 1.4 * SAMPLE_RATE < len(audio) < 2.5 * SAMPLE_RATE and np.abs(audio).max() > 1000


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(KlettresWords, "ROOT", "/nonexistent/klettres")
    with pytest.raises(UsageError, match="apt-get install klettres-data"):
        KlettresWords.check_installed()


@needs_pocketsphinx_data
def test_pocketsphinx_wrapper_on_real_clips():
    pytest.importorskip("pocketsphinx")
    from common.audio.sphinx import PocketSphinx

    sphinx = PocketSphinx()
    digits = read_audio_file(os.path.join(POCKETSPHINX_DATA, TIDIGITS))
    assert sphinx.digits(digits) == "two nine three four zero"
    heard = sphinx.keywords(read_audio_file(os.path.join(POCKETSPHINX_DATA, "goforward.raw")), ["go", "stop", "yes"])
    assert heard[:1] == ["go"]


def test_keyword_scores():
    references = [["eight", "four"], [], ["no"], []]
    heard = [["eight", "four"], ["two"], [], []]
    scores = keyword_scores(references, heard, [2.0, 30.0, 1.0, 30.0])
    assert scores["accuracy"] == 0.5 and scores["recall"] == pytest.approx(2 / 3) and scores["false_alarms"] == 1
    assert scores["false_alarms_per_minute"] == pytest.approx(1.0) and scores["keywords"] == 3
    assert transcript_keywords("Eight of spades four", ["four", "eight"]) == ["eight", "four"]


class FakeSphinx:
    kws_threshold = 0.1

    def keywords(self, audio, keywords):
        return ["go"] if audio.max() > 0.5 else []

    def digits(self, audio):
        return "five five"

    def transcribe(self, audio):
        return "five of clubs"


def _clips(texts):
    audio = [np.full(SAMPLE_RATE, 0.9 if "go" in t else 0.1, np.float32) for t in texts]
    return RealClips("fake", "pkg: /files", audio, list(texts), [f"{i}.wav" for i in range(len(texts))])


def test_keyword_real_world_section_shape():
    section = real_world_keywords(lambda a: [], FakeSphinx(), _clips(["go forward", "a", "dog"]), ["go", "no"])
    assert set(section) == {"source", "examples", "model", "baselines"} and section["examples"] == 3
    assert section["model"]["accuracy"] == pytest.approx(2 / 3) and section["model"]["recall"] == 0.0
    assert section["baselines"]["pocketsphinx_kws"]["accuracy"] == 1.0
    assert section["baselines"]["pocketsphinx_kws"]["false_alarms_per_minute"] == 0.0
    assert real_world_keywords(lambda a: [], None, _clips(["a"]), ["go"])["baselines"] == {}


@pytest.mark.slow
def test_digit_real_world_section_shape(monkeypatch):
    import common.audio.real
    import common.audio.sphinx

    monkeypatch.setattr(common.audio.real, "load_real_clips",
                        lambda name, data_dir="": _clips(["five five", "eight of spades four", "go forward"]))
    monkeypatch.setattr(common.audio.sphinx, "PocketSphinx", FakeSphinx)
    task = SpeechRecognition()
    cfg = task.config_class(dataset="spoken_digits", beam_width=2)
    data = type("Data", (), {"name": "spoken_digits"})()
    found = task.real_world(build_ctc_model(10, width=4, rnn_units=4), cfg, data)
    assert set(found) == {"pocketsphinx_digit_strings", "pocketsphinx_digit_words"}
    strings, words = found["pocketsphinx_digit_strings"], found["pocketsphinx_digit_words"]
    assert strings["examples"] == 1 and words["examples"] == 2 and words["model"]["words"] == 4
    assert strings["baselines"]["pocketsphinx_digits"] == {"wer": 0.0, "sentence_accuracy": 1.0, "words": 2}
    assert words["baselines"]["pocketsphinx_lm"]["wer"] == pytest.approx(0.75)  # "five": 1 error of 2, 2 of 2
    tiny = type("Data", (), {"name": "spoken_digits/tiny"})()
    assert task.real_world(None, task.config_class(dataset="spoken_digits/tiny"), tiny) == {}
    assert digit_words("Eight of spades four") == "eight four"


def test_check_speech():
    check_speech(np.full(SAMPLE_RATE // 2, 0.1, np.float32), "ok.wav")
    with pytest.raises(UsageError, match="lasts 50 ms"):
        check_speech(np.full(800, 0.1, np.float32), "short.wav")
    with pytest.raises(UsageError, match="is silent"):
        check_speech(np.full(SAMPLE_RATE, 1e-4, np.float32), "quiet.wav")


def test_augmentation_only_in_training_and_round_trips(tmp_path):
    audio = np.sin(np.linspace(0, 2000, SAMPLE_RATE, dtype=np.float32))[None].repeat(3, 0) * 0.5
    room = RoomSimulation(probability=1.0, seed=0)
    changed = keras.ops.convert_to_numpy(room(audio, training=True))
    assert changed.shape == audio.shape and not np.allclose(changed, audio) and np.abs(changed).max() <= 1.0
    assert np.array_equal(keras.ops.convert_to_numpy(room(audio)), audio)
    odd = keras.ops.convert_to_numpy(room(audio[:, :12345], training=True))  # any length, odd too
    assert odd.shape == (3, 12345)
    masks = keras.ops.convert_to_numpy(SpecAugment(max_bands=5, max_frames=5, seed=0)(np.ones((2, 50, 20, 1)), training=True))
    assert 0.5 < masks.mean() < 1.0
    model = build_keyword_model(22, model="cnn", width=4, augment=True)
    assert {"room", "spec_augment"} <= {layer.name for layer in model.layers}
    model.save(tmp_path / "kws.keras")
    loaded = keras.saving.load_model(tmp_path / "kws.keras")
    x = audio[:1]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_unknown_word_fragments():
    rng = np.random.default_rng(0)
    synthesizer = Synthesizer.get()
    made = [unknown_speech(rng, synthesizer, random_delivery(rng, "m3")) for _ in range(9)]
    words = [w for _, w in made]
    assert any("[:" in w and "+" not in w for w in words) or any("[-" in w and "+" not in w for w in words)
    assert any("+" in w for w in words) and any("[" not in w for w in words)
    assert all(0 < len(a) <= 2 * SAMPLE_RATE for a, _ in made)
