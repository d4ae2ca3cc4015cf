"""Speech synthesis beyond eSpeak NG: flite and Festival clips (written and read back as WAV), the
`multi_tiny` builder config with their voices split by speaker, and the one-line error when a Debian
synthesiser or voice is missing."""

import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from apps.speech_recognition.data import SpokenDigits, load_utterances
from common.audio import SAMPLE_RATE, synthesis
from common.audio.datasets import OTHER_VOICES
from common.audio.synthesis import Synthesizers
from common.audio.wav import read_wav, write_wav
from common.errors import UsageError

needs_debian_voices = pytest.mark.skipif(not (shutil.which("flite") and shutil.which("festival")),
                                         reason=f"flite or Festival not installed ({synthesis.APT_LINE})")


@needs_debian_voices
@pytest.mark.parametrize("voice", ["flite:slt", "flite:kal", "festival:kal_diphone"])
def test_flite_and_festival_clips_are_readable(voice, tmp_path):
    synth = Synthesizers()
    audio = synth.say("seven", voice=voice, rate=175, pitch=50)
    assert audio.dtype == np.float32 and 0.2 * SAMPLE_RATE < len(audio) < 1.5 * SAMPLE_RATE
    assert 0.05 < np.abs(audio).max() <= 1.0
    back, rate = read_wav(write_wav(str(tmp_path / "seven.wav"), audio))
    assert rate == SAMPLE_RATE and np.abs(back - audio).max() < 1e-3
    slow_high = synth.say("seven", voice=voice, rate=120, pitch=85)  # stretched, then shifted up 2.5 semitones
    assert 1.1 * len(audio) < len(slow_high) < 1.6 * len(audio)


def test_other_voices_split_by_speaker():
    speaker = {"flite:kal": "kal", "flite:kal16": "kal", "festival:kal_diphone": "kal", "flite:slt": "slt",
               "festival:cmu_us_slt_arctic_hts": "slt", "flite:awb": "awb", "festival:ked_diphone": "ked",
               "flite:rms": "rms"}
    speakers = {split: {speaker[v] for v in voices} for split, voices in OTHER_VOICES.items()}
    assert sum(len(v) for v in OTHER_VOICES.values()) == len(speaker)
    assert not speakers["test"] & (speakers["train"] | speakers["validation"])
    assert not speakers["validation"] & speakers["train"]


@needs_debian_voices
def test_multi_tiny_builder(tmp_path):
    data = load_utterances("spoken_digits/multi_tiny", str(tmp_path))
    assert data.sizes == {"train": 9, "validation": 6, "test": 6}  # 3 utterances per voice
    builder = SpokenDigits(data_dir=str(tmp_path), config="multi_tiny")
    voices = {s: {r["voice"].decode() for r in tfds.as_numpy(builder.as_dataset(split=s))} for s in data.sizes}
    assert {"flite:kal16", "festival:kal_diphone"} <= voices["train"] and "flite:rms" in voices["test"]
    assert "festival:ked_diphone" in voices["validation"]
    assert all(len(a) > 0.3 * SAMPLE_RATE for a in data.audio["test"])


def test_missing_synthesiser_or_voice(monkeypatch, cli, tmp_path):
    which = shutil.which
    monkeypatch.setattr(synthesis.shutil, "which", lambda name, *a, **k: None if name in ("flite", "festival")
                        else which(name, *a, **k))
    with pytest.raises(UsageError, match="flite is missing: install Debian flite \\(apt-get install flite"):
        Synthesizers().check(["flite:kal"])
    with pytest.raises(UsageError, match="Festival is missing: install Debian festival"):
        Synthesizers().check(["festival:kal_diphone"])
    code, out, err = cli("speech_recognition", "train", "--dataset", "spoken_digits/multi_tiny", "--data-dir",
                         tmp_path / "tfds", "--output-dir", tmp_path / "run")
    assert code == 2 and "apt-get install flite festival" in err and err.strip().count("\n") == 0
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(synthesis, "FESTIVAL_VOICE_DIRS", ())
    with pytest.raises(UsageError, match="Festival voice ked_diphone is missing: install Debian festvox-kdlpc16k"):
        synthesis.Festival.check_voice("ked_diphone")
