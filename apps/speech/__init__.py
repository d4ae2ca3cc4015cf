"""Speech on raw 16 kHz audio: keyword spotting and spoken digit-string recognition.

    dlsuite keyword_spotting train                           # spoken_keywords, CRNN (--set model=cnn)
    dlsuite keyword_spotting predict --run DIR yes.wav stop.wav
    dlsuite keyword_spotting listen --run DIR long.wav --threshold 0.8
    dlsuite keyword_spotting train --dataset tfds:speech_commands   # internet once
    dlsuite speech_recognition train                         # spoken_digits, CTC conv + bidirectional GRU
    dlsuite speech_recognition predict --run DIR digits.wav
    python -m apps.speech.say "three one four" digits.wav --voice en-us+m3   # make a test WAV

* Data (`common.datasets.speech`): synthesised offline with eSpeak NG (the `espeakng-loader` wheel):
  `spoken_keywords`, one-second clips of the twenty Speech Commands keywords plus `_unknown_` words and
  `_background_` noise; `spoken_digits`, utterances of 1-7 random digits with transcripts. 100-odd
  voice variants x 8 English accents at random speeds, pitches and noise; whole voices are held out
  for validation and test. Both are TFDS builders cached in the data dir (`/tiny` configs for tests).
* Models (`model.py`): the log-mel spectrogram (`keras.layers.MelSpectrogram`, 40 bands, 25 ms / 10 ms)
  is the models' first layer, so saved and exported models take raw audio. Keywords: a CRNN
  (convolutions + bidirectional GRU, the default) or a CNN. Recognition: three strided convolutions + bidirectional GRU/LSTM
  trained with CTC (`keras.ops.ctc_loss`), decoded greedily or by beam search (`keras.ops.ctc_decode`),
  scored by word error rate (jiwer).
* Baselines: keywords, an RBF SVC on log-mel energies pooled over ten stretches of time; recognition,
  the constant guess of the most common digit at the most common length.
* WAV input (`audio.py`): other sample rates (>= 8 kHz) are resampled to 16 kHz; stereo, empty and
  corrupt files are refused with one line and exit code 2.
* TensorBoard: test clips in the Audio tab (`tf.summary.audio`), predictions in the Text tab.
"""
