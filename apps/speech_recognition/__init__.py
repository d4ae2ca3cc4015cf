"""Spoken digit-string recognition on raw 16 kHz audio: a CTC model of convolutions + bidirectional GRU/LSTM.

    dlsuite speech_recognition train                         # spoken_digits, CTC conv + bidirectional GRU
    dlsuite speech_recognition predict --run DIR digits.wav
    python -m common.audio.say "three one four" digits.wav --voice en-us+m3   # make a test WAV

* Data (`apps.speech_recognition.data`): `spoken_digits`, synthesised offline with eSpeak NG (the
  `espeakng-loader` wheel, `common.audio.synthesis`): utterances of 1-7 random digits with
  transcripts. 100-odd voice variants x 8 English accents at random speeds, pitches and noise; whole
  voices are held out for validation and test. A TFDS builder cached in the data dir
  (`spoken_digits/tiny` for tests).
* Model (`model.py`): the log-mel spectrogram (`keras.layers.MelSpectrogram`, 40 bands, 25 ms / 10 ms,
  `common.audio.frontend`) is the model's first layer, so saved and exported models take raw audio;
  then three strided convolutions + bidirectional GRU/LSTM trained with CTC (`keras.ops.ctc_loss`),
  decoded greedily or by beam search (`keras.ops.ctc_decode`), scored by word error rate (jiwer).
* Training augmentation (`augment`, `common.audio.augment`): a random room and microphone and SpecAugment.
* Baseline: the constant guess of the most common digit at the most common length.
* Real voices (`real_world`): after training, the model and PocketSphinx (a digits grammar; its en-us
  language model) on the real digit recordings of Debian pocketsphinx-testdata.
* WAV input (`common.audio.wav`): other sample rates (>= 8 kHz) are resampled to 16 kHz; stereo, empty,
  corrupt, too short (< 100 ms) and silent files are refused with one line and exit code 2.
* TensorBoard: test clips in the Audio tab (`tf.summary.audio`), transcripts in the Text tab.
"""
