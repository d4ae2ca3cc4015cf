"""Keyword spotting on real human recordings (`common.audio.real`), next to PocketSphinx keyword search on
the same clips: every clip is scanned (`listen` for the model), and the keywords heard are compared
with the keywords its transcript holds.

* `accuracy`: the share of clips whose keywords heard, in order, are exactly those of the transcript
  (a clip without keywords is right when nothing is heard: the `_unknown_` answer);
* `recall`: keywords of the transcripts that were heard; `false_alarms`: keywords heard beyond those;
* `false_alarms_per_minute`: false alarms on the clips without keywords, per minute of their audio
  (non-keyword speech with the pauses around it).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from common.audio import SAMPLE_RATE

REAL_SETS = ("pocketsphinx_utterances", "klettres_words")


def transcript_keywords(text: str, keywords) -> list[str]:
    """The keywords of a transcript, in order ("eight of spades four" -> ["eight", "four"])."""
    keywords = set(keywords)
    return [w for w in text.lower().split() if w in keywords]


def keyword_scores(references: list[list[str]], heard: list[list[str]], durations: list[float]) -> dict:
    """Accuracy, recall, false alarms and false alarms per minute of keyword-free clips (module docstring).

    Args:
        references: the keywords each clip's transcript holds, in order.
        heard: the keywords a spotter reported in each clip, in order.
        durations: each clip's length in seconds.
    """
    hits = [sum((Counter(r) & Counter(h)).values()) for r, h in zip(references, heard)]
    false_alarms = [len(h) - k for h, k in zip(heard, hits)]
    quiet = [i for i, r in enumerate(references) if not r]
    quiet_minutes = sum(durations[i] for i in quiet) / 60.0
    n_keywords = sum(len(r) for r in references)
    return {
        "accuracy": float(np.mean([r == h for r, h in zip(references, heard)])) if references else 0.0,
        "recall": sum(hits) / n_keywords if n_keywords else None,
        "keywords": n_keywords,
        "false_alarms": int(sum(false_alarms)),
        "false_alarms_per_minute": (sum(false_alarms[i] for i in quiet) / quiet_minutes) if quiet_minutes else None,
        "keyword_free_minutes": round(quiet_minutes, 3),
    }


def real_world_keywords(spot, sphinx, clips, keywords) -> dict:
    """One real set's section of `metrics.json` `real_world`: `spot(audio) -> [keyword]` (the model)
    against PocketSphinx keyword search (`sphinx`, a `common.audio.sphinx.PocketSphinx`, or None)."""
    references = [transcript_keywords(t, keywords) for t in clips.texts]
    durations = [len(a) / SAMPLE_RATE for a in clips.audio]
    section = {"source": clips.source, "examples": len(clips.audio),
               "model": keyword_scores(references, [spot(a) for a in clips.audio], durations), "baselines": {}}
    if sphinx is not None:
        heard = [sphinx.keywords(a, keywords) for a in clips.audio]
        section["baselines"]["pocketsphinx_kws"] = {**keyword_scores(references, heard, durations),
                                                    "threshold": sphinx.kws_threshold}
    return section
