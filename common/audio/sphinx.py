"""PocketSphinx (the `pocketsphinx` wheel: CMU's en-us acoustic model, language model and dictionary) as
the classical baseline of both speech applications, decoding the same 16 kHz clips as the models.

* `transcribe`: the full en-us language model (any English word).
* `digits`: a JSGF grammar of one or more of the ten digit words, what the digit recogniser is asked.
* `keywords`: keyword search (`kws`) for a list of words, each with the same detection threshold.

    >>> PocketSphinx().digits(audio)          # 'two nine three four zero'
    >>> PocketSphinx().keywords(audio, ["go", "stop"])  # ['go']
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from common.audio import DIGIT_WORDS, SAMPLE_RATE
from common.errors import UsageError

INSTALL_HINT = "pip install pocketsphinx (its wheel ships the en-us models)"
# Keyword-search threshold of every keyword: of 1e-1, 1e-3 and 1e-5, the one with the fewest false
# alarms on four of the real clips (which favours the baseline); lower values fire on most syllables.
KWS_THRESHOLD = 1e-1


def digits_grammar(words=DIGIT_WORDS) -> str:
    """A JSGF grammar accepting one or more of `words`."""
    return f"#JSGF V1.0;\ngrammar digits;\npublic <digits> = ( {' | '.join(words)} )+ ;\n"


class PocketSphinx:
    """PocketSphinx decoders of 16 kHz float audio, built on first use and kept (one per kind of search).

    Args:
        kws_threshold: the keyword-search detection threshold of each keyword (`keywords`).
    """

    def __init__(self, kws_threshold: float = KWS_THRESHOLD):
        try:
            import pocketsphinx
        except ImportError:
            raise UsageError(f"the PocketSphinx baseline needs pocketsphinx: {INSTALL_HINT}") from None
        self._module = pocketsphinx
        self.kws_threshold = float(kws_threshold)
        self._decoders: dict = {}

    def _decoder(self, key, **kwargs):
        if key not in self._decoders:
            self._decoders[key] = self._module.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **kwargs)
        return self._decoders[key]

    @staticmethod
    def _decode(decoder, audio: np.ndarray):
        pcm = np.clip(np.round(np.asarray(audio, np.float32) * 32767.0), -32768, 32767).astype("<i2").tobytes()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        return decoder

    def transcribe(self, audio: np.ndarray) -> str:
        """What the en-us language model hears in `audio`, lower case words."""
        hyp = self._decode(self._decoder("lm"), audio).hyp()
        return hyp.hypstr.strip() if hyp else ""

    def digits(self, audio: np.ndarray) -> str:
        """The digit words ("two nine three") that a grammar of digit strings finds in `audio`."""
        decoder = self._decoders.get("digits")
        if decoder is None:
            decoder = self._decoder("digits", lm=None)
            decoder.add_jsgf_string("digits", digits_grammar())
            decoder.activate_search("digits")
        hyp = self._decode(decoder, audio).hyp()
        return " ".join(w for w in (hyp.hypstr.split() if hyp else []) if w in DIGIT_WORDS)

    def keywords(self, audio: np.ndarray, keywords) -> list[str]:
        """The keywords that keyword search detects in `audio`, in time order."""
        keywords = tuple(keywords)
        key = ("kws", keywords)
        if key not in self._decoders:
            with tempfile.NamedTemporaryFile("w", suffix=".kws", delete=False) as f:
                f.write("".join(f"{w} /{self.kws_threshold:g}/\n" for w in keywords))
            try:
                self._decoder(key, kws=f.name)
            finally:
                os.unlink(f.name)
        segments = sorted(self._decode(self._decoders[key], audio).seg() or [], key=lambda s: s.start_frame)
        return [s.word.strip() for s in segments if s.word.strip() in keywords]
