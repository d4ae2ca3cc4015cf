"""Keyword spotting on raw 16 kHz audio: a CRNN or CNN classifying one-second clips.

    dlsuite keyword_spotting train                           # spoken_keywords, CRNN (--set model=cnn)
    dlsuite keyword_spotting predict --run DIR yes.wav stop.wav
    dlsuite keyword_spotting listen --run DIR long.wav --threshold 0.8
    dlsuite keyword_spotting train --dataset tfds:speech_commands   # internet once
    python -m common.audio.say "stop" stop.wav --voice en-us+m3    # make a test WAV

* Data (`apps.keyword_spotting.data`): `spoken_keywords`, synthesised offline with eSpeak NG (the
  `espeakng-loader` wheel, `common.audio.synthesis`): one-second clips of the twenty Speech Commands
  keywords plus `_unknown_` words and `_background_` noise. 100-odd voice variants x 8 English
  accents at random speeds, pitches and noise; whole voices are held out for validation and test. A
  TFDS builder cached in the data dir (`spoken_keywords/tiny` for tests); also `tfds:speech_commands`.
* Model (`model.py`): the log-mel spectrogram (`keras.layers.MelSpectrogram`, 40 bands, 25 ms / 10 ms,
  `common.audio.frontend`) is the model's first layer, so saved and exported models take raw audio;
  then a CRNN (convolutions + bidirectional GRU, the default) or a CNN.
  `_unknown_` holds other words, word fragments and junctions of two words (what `listen` slides over).
* Training augmentation (`augment`, `common.audio.augment`): a random room and microphone (reverberation,
  band-limiting, noise at 0-30 dB SNR, gain) and SpecAugment masks, inside the model in training only.
* Baseline: an RBF SVC on log-mel energies pooled over ten stretches of time.
* Real voices (`real_world`, `apps.keyword_spotting.real_world`): after training, `listen` and PocketSphinx
  keyword search on the same real recordings (Debian pocketsphinx-testdata, klettres-data: accuracy,
  recall, false alarms per minute of keyword-free speech).
* WAV input (`common.audio.wav`): other sample rates (>= 8 kHz) are resampled to 16 kHz; stereo, empty,
  corrupt, too short (< 100 ms) and silent files are refused with one line and exit code 2.
* TensorBoard: test clips in the Audio tab (`tf.summary.audio`), predictions in the Text tab.
"""
