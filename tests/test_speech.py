"""Speech tests: the eSpeak NG synthesiser and tiny embedded sets, log-mel shapes, keyword and CTC model
builds with save/load round trips, CTC decoding of a known sequence, WAV errors (other rates, stereo,
empty, corrupt, a missing synthesiser), tfds:speech_commands under mock data, and both apps end to end
from the CLI (train, predict, listen, export)."""

import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from apps.keyword_spotting.data import KEYWORD_CLASSES, load_keywords
from apps.keyword_spotting.model import build_keyword_model
from apps.speech_recognition.data import labels_to_text, load_utterances, text_to_labels
from apps.speech_recognition.model import CTCLoss, build_ctc_model, decode
from common.audio import SAMPLE_RATE
from common.audio.datasets import split_voices
from common.audio.frontend import log_mel, num_frames
from common.audio.synthesis import Synthesizer
from common.audio.wav import read_wav, write_wav
from common.errors import UsageError
from conftest import read_json

TINY_KWS = ["--set", "width=4", "--set", "rnn_units=4", "--set", "audio_examples=2", "--batch-size", "32"]
TINY_ASR = ["--set", "width=4", "--set", "rnn_units=8", "--set", "rnn_layers=1", "--set", "audio_examples=2",
            "--set", "beam_width=2", "--batch-size", "8"]


def say(path, text, voice="en-us+m3", rate=170):
    return write_wav(str(path), Synthesizer.get().say(text, voice=voice, rate=rate))


def test_synthesiser_and_voice_split():
    synth = Synthesizer.get()
    audio = synth.say("seven", voice="en+f2", rate=160, pitch=60)
    assert audio.dtype == np.float32 and 0.2 * SAMPLE_RATE < len(audio) < 1.5 * SAMPLE_RATE
    assert 0.05 < np.abs(audio).max() <= 1.0
    again = synth.say("seven", voice="en+f2", rate=160, pitch=60)  # eSpeak NG varies only by a few samples
    assert abs(len(again) - len(audio)) < 0.01 * len(audio)
    assert np.sqrt(np.mean(again ** 2)) == pytest.approx(np.sqrt(np.mean(audio ** 2)), rel=0.05)
    splits = split_voices(synth.variants(), 12, 16)
    assert len(splits["test"]) == 16 and not set(splits["test"]) & (set(splits["train"]) | set(splits["validation"]))


def test_tiny_keyword_and_digit_sets():
    data = load_keywords("spoken_keywords/tiny")
    assert data.class_names == list(KEYWORD_CLASSES) and data.sizes == {"train": 72, "validation": 48, "test": 48}
    audio, labels = data.arrays("test")
    assert audio.shape == (48, SAMPLE_RATE) and audio.dtype == np.float32 and sorted(set(labels)) == list(range(22))
    assert np.abs(audio).max() <= 1.0
    utterances = load_utterances("spoken_digits/tiny")
    assert utterances.sizes == {"train": 18, "validation": 12, "test": 12}
    text = utterances.texts["test"][0]
    assert labels_to_text(text_to_labels(text)) == text and all(1 <= i <= 10 for i in text_to_labels(text))
    with pytest.raises(UsageError, match="no config 'huge'"):
        load_keywords("spoken_keywords/huge")
    with pytest.raises(UsageError, match="unknown keyword dataset"):
        load_keywords("digits")


def test_log_mel_shapes():
    for samples in (SAMPLE_RATE, 24000):
        audio = keras.Input(shape=(samples,))
        assert log_mel(audio, 32).shape == (None, num_frames(samples), 32, 1)
    assert num_frames(SAMPLE_RATE) == 101
    ctc = build_ctc_model(10, width=4, rnn_units=4, rnn_layers=1)
    for samples in (8000, 37000):  # any length: an eighth of the spectrogram frames, rounded up
        assert ctc(np.zeros((2, samples), np.float32)).shape == (2, -(-num_frames(samples) // 8), 11)


@pytest.mark.parametrize("kind", ["cnn", "crnn", "ctc"])
def test_model_save_load_round_trip(kind, tmp_path):
    if kind == "ctc":
        model = build_ctc_model(10, width=4, rnn_units=4, rnn_layers=1, rnn="lstm")
        model.compile(optimizer="adam", loss=CTCLoss())
    else:
        model = build_keyword_model(22, model=kind, width=4, rnn_units=4, time_shift=800)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, SAMPLE_RATE)).astype(np.float32)
    path = str(tmp_path / f"{kind}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(model.predict(audio, verbose=0), loaded.predict(audio, verbose=0), atol=1e-5)


def test_time_shift_only_in_training():
    from apps.keyword_spotting.model import RandomTimeShift

    layer = RandomTimeShift(100, seed=1)
    audio = np.arange(1, 1001, dtype=np.float32)[None].repeat(4, axis=0)
    np.testing.assert_array_equal(layer(audio, training=False), audio)
    shifted = np.asarray(layer(audio, training=True))
    assert shifted.shape == audio.shape and np.isin(shifted[shifted != 0], audio).all()


def test_ctc_decoding_and_loss_on_a_known_sequence():
    frames = [4, 4, 0, 2, 0, 2, 5, 0, 0]  # "three one one four": repeats merge unless a blank separates them
    logits = np.full((1, len(frames), 11), -8.0, np.float32)
    logits[0, np.arange(len(frames)), frames] = 8.0
    assert decode(logits, strategy="greedy") == [[4, 2, 2, 5]]
    assert decode(logits, strategy="beam", beam_width=4) == [[4, 2, 2, 5]]
    assert labels_to_text([4, 2, 2, 5]) == "three one one four"
    loss = CTCLoss()
    right = float(loss(np.array([[4, 2, 2, 5, 0]]), logits))
    wrong = float(loss(np.array([[4, 2, 5, 0, 0]]), logits))
    assert 0.0 <= right < 0.01 < wrong


def test_wav_reading_and_bad_wavs(tmp_path):
    import scipy.io.wavfile

    tone = np.sin(np.linspace(0, 2000, 8000)).astype(np.float32) * 0.5
    write_wav(str(tmp_path / "8k.wav"), tone, sample_rate=8000)
    audio, rate = read_wav(str(tmp_path / "8k.wav"))  # resampled, documented
    assert rate == 8000 and len(audio) == SAMPLE_RATE and audio.dtype == np.float32
    scipy.io.wavfile.write(str(tmp_path / "stereo.wav"), SAMPLE_RATE, np.zeros((1600, 2), np.int16))
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    scipy.io.wavfile.write(str(tmp_path / "silent.wav"), SAMPLE_RATE, np.zeros(0, np.int16))
    write_wav(str(tmp_path / "low.wav"), tone[:100], sample_rate=4000)
    for name, message in (("stereo", "2 channels"), ("empty", "empty"), ("corrupt", "not a readable WAV"),
                          ("silent", "no samples"), ("low", "at least 8000 Hz"), ("missing", "no such WAV")):
        with pytest.raises(UsageError, match=message):
            read_wav(str(tmp_path / f"{name}.wav"))


def test_missing_synthesiser_is_a_clear_error(monkeypatch, cli, tmp_path):
    monkeypatch.setattr(Synthesizer, "_instance", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails as if not installed
    with pytest.raises(UsageError, match="eSpeak NG is missing.*pip install espeakng-loader"):
        Synthesizer.get()
    code, out, err = cli("keyword_spotting", "train", "--dataset", "spoken_keywords/tiny", "--data-dir",
                         tmp_path / "tfds", "--output-dir", tmp_path / "run")
    assert code == 2 and "pip install espeakng-loader" in err and err.strip().count("\n") == 0


def test_speech_commands_under_mock_data():
    with tfds.testing.mock_data(num_examples=6):
        data = load_keywords("tfds:speech_commands")
        audio, labels = data.arrays("train")
    assert audio.shape == (6, SAMPLE_RATE) and audio.dtype == np.float32 and len(data.class_names) == 12
    assert np.abs(audio).max() <= 1.0


@pytest.mark.slow
def test_keyword_spotting_cli_end_to_end(cli, tmp_path):
    run = tmp_path / "kws"
    code, out, err = cli("keyword_spotting", "train", "--dataset", "spoken_keywords/tiny", "--epochs", "1", "--quiet",
                         "--output-dir", run, "--set", "model=crnn", *TINY_KWS)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and "logmel_svc" in metrics["baselines"]
    assert os.listdir(run / "logs" / "test") and (run / "plots" / "confusion_matrix.png").exists()
    yes = say(tmp_path / "yes.wav", "yes")
    code, out, err = cli("keyword_spotting", "predict", "--run", run, yes)
    assert code == 0 and '"keyword"' in out and '"top3"' in out, err
    long = write_wav(str(tmp_path / "long.wav"), np.concatenate(
        [Synthesizer.get().say(w) for w in ("yes", "stop")] + [np.zeros(SAMPLE_RATE, np.float32)]))
    code, out, err = cli("keyword_spotting", "listen", "--run", run, long, "--threshold", "0")
    assert code == 0 and "keyword(s) in" in out, err
    scipy_stereo = tmp_path / "stereo.wav"
    write_wav(str(scipy_stereo), np.zeros((800, 2), np.float32))
    code, out, err = cli("keyword_spotting", "predict", "--run", run, scipy_stereo)
    assert code == 2 and err.strip().count("\n") == 0 and "2 channels" in err
    for name, audio, message in (("silent.wav", np.zeros(SAMPLE_RATE, np.float32), "is silent"),
                                 ("short.wav", np.full(800, 0.1, np.float32), "lasts 50 ms")):
        write_wav(str(tmp_path / name), audio)
        code, out, err = cli("keyword_spotting", "listen", "--run", run, tmp_path / name)
        assert code == 2 and err.strip().count("\n") == 0 and message in err, err
    code, out, err = cli("keyword_spotting", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model")).signatures["serving_default"]
    probabilities = served(audio=tf.zeros((1, SAMPLE_RATE)))["probabilities"]
    assert probabilities.shape == (1, 22)


@pytest.mark.slow
def test_speech_recognition_cli_end_to_end(cli, tmp_path):
    run = tmp_path / "asr"
    code, out, err = cli("speech_recognition", "train", "--dataset", "spoken_digits/tiny", "--epochs", "1", "--quiet",
                         "--output-dir", run, *TINY_ASR)
    assert code == 0, err
    metrics = read_json(run / "metrics.json")
    assert {"wer", "wer_greedy", "sentence_accuracy"} <= set(metrics["test"]) and metrics["test"]["wer"] >= 0
    assert (run / "examples" / "transcripts.md").exists() and os.listdir(run / "logs" / "test")
    wav = say(tmp_path / "digits.wav", "four two", voice="en+m1")
    code, out, err = cli("speech_recognition", "predict", "--run", run, wav)
    assert code == 0 and '"transcript"' in out, err
    transcript = json.loads(out.splitlines()[-1])["transcript"]
    (tmp_path / "bad.wav").write_bytes(b"not a wav at all")
    code, out, err = cli("speech_recognition", "predict", "--run", run, tmp_path / "bad.wav")
    assert code == 2 and "not a readable WAV" in err
    write_wav(str(tmp_path / "silent.wav"), np.zeros(SAMPLE_RATE, np.float32))
    code, out, err = cli("speech_recognition", "predict", "--run", run, tmp_path / "silent.wav")
    assert code == 2 and err.strip().count("\n") == 0 and "is silent" in err, err
    code, out, err = cli("speech_recognition", "export", "--run", run)
    assert code == 0, err
    served = tf.saved_model.load(str(run / "saved_model")).signatures["serving_default"]
    outputs = served(audio=tf.zeros((1, 20000)))
    assert outputs["logits"].shape[-1] == 11 and outputs["transcript"].shape == (1,)
    # The export decodes as predict does (beam search of beam_width): the same transcript, in words.
    from apps.speech_recognition.data import pad_batch

    served_transcript = served(audio=tf.constant(pad_batch([read_wav(wav)[0]])))["transcript"].numpy()[0].decode()
    assert served_transcript == transcript


def test_ctc_training_lowers_the_loss():
    data = load_utterances("spoken_digits/tiny")
    from apps.speech_recognition.data import pad_batch

    clips = data.audio["train"][:8]
    labels = np.zeros((8, 7), np.int32)
    for i, text in enumerate(data.texts["train"][:8]):
        ids = text_to_labels(text)
        labels[i, : len(ids)] = ids
    model = build_ctc_model(10, width=4, rnn_units=8, rnn_layers=1, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=CTCLoss())
    history = model.fit(pad_batch(clips), labels, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_search_spaces_default_to_the_config():
    import keras_tuner

    from apps.keyword_spotting.config import KeywordSpottingConfig
    from apps.keyword_spotting.task import KeywordSpotting
    from apps.speech_recognition.config import SpeechRecognitionConfig
    from apps.speech_recognition.task import SpeechRecognition

    for task, cfg in ((KeywordSpotting(), KeywordSpottingConfig()), (SpeechRecognition(), SpeechRecognitionConfig())):
        overrides = task.search_space(keras_tuner.HyperParameters(), cfg)
        assert overrides and all(getattr(cfg, key) == value for key, value in overrides.items())
