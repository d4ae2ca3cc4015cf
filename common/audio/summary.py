"""Clips in TensorBoard's Audio tab (`tf.summary.audio`), with a description each, also in the Text tab."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from common.audio import SAMPLE_RATE


class AudioSummary(keras.callbacks.Callback):
    """Writes clips to TensorBoard's Audio tab (`tf.summary.audio`) once, when training starts.

    Args:
        log_dir: the run's TensorBoard directory (the clips are of the test split: they go to `log_dir/test`).
        clips: `{name: (audio (n, samples) float32 in [-1, 1], markdown description)}`.
    """

    def __init__(self, log_dir: str, clips: dict):
        super().__init__()
        self.log_dir = log_dir
        self.clips = clips

    def on_train_begin(self, logs=None):
        log_audio(self.log_dir, self.clips)


def log_audio(log_dir: str, clips: dict, step: int = 0) -> None:
    """The clips in the Audio tab, and each description (their transcripts or labels) under the same name in the
    Text tab: the Audio tab shows a description only behind its (i) icon."""
    writer = tf.summary.create_file_writer(os.path.join(log_dir, "test"))
    with writer.as_default():
        for name, (audio, description) in clips.items():
            tf.summary.audio(name, np.asarray(audio, np.float32)[..., None], SAMPLE_RATE, step=step,
                             max_outputs=len(audio), description=description)
            tf.summary.text(name, description, step=step)
    writer.flush()
    writer.close()
