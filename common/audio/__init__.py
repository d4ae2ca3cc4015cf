"""Audio shared by the speech applications (keyword_spotting, speech_recognition): raw 16 kHz mono.

* `wav`: WAV files in and out (other rates resampled, bad files refused with one line, exit code 2).
* `frontend`: the log-mel spectrogram both models compute as their first layers.
* `synthesis`: the eSpeak NG, flite and Festival synthesisers (`Synthesizers`) and the noise and deliveries of
  their clips.
* `datasets`: the base of the applications' synthesised TFDS builders (`SpeechBuilder`), the voice
  split and the PCM storage of their audio.
* `real`: real human recordings (Debian pocketsphinx-testdata, klettres-data) as evaluation-only TFDS sets.
* `sphinx`: the PocketSphinx baseline (language model, digits grammar, keyword search).
* `augment`: training augmentation towards real recordings (`RoomSimulation`, `SpecAugment`).
* `config`: the config fields both applications share (`AudioConfig`).
* `summary`: clips in TensorBoard's Audio tab (`AudioSummary`).
* `say`: `python -m common.audio.say "three one four" digits.wav` makes a test WAV.
"""

SAMPLE_RATE = 16000
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
