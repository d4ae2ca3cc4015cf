"""The scores every sequence-to-sequence run reports (translation, chatbot), and their classical baseline:
nearest-neighbour retrieval.

The baseline translates a sentence by finding the most similar training source (cosine of TF-IDF
vectors of words and word pairs, scikit-learn) and returning that source's training translation. It
knows nothing about words' meanings, only which sentences look alike, so a model that learned to
translate must beat it; on a test set of sentences never seen in training it is a low but honest bar.
"""

from __future__ import annotations

import numpy as np
import sacrebleu


def translation_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu, default settings) on lower-cased text.

    The models see and write lower-case words, so both sides are lower-cased: a correct word in the
    wrong case is not counted as an error.

    Example:
        >>> translation_scores(["that is good."], ["That is good."])
        {'bleu': 100.0, 'chrf': 100.0}
    """
    bleu = sacrebleu.metrics.BLEU(lowercase=True).corpus_score(hypotheses, [references])
    chrf = sacrebleu.metrics.CHRF(lowercase=True).corpus_score(hypotheses, [references])
    return {"bleu": round(float(bleu.score), 4), "chrf": round(float(chrf.score), 4)}


def retrieval_translations(train_sources: list[str], train_targets: list[str], sources: list[str],
                           batch_size: int = 1024) -> list[str]:
    """For each source, the training target of its most similar training source (TF-IDF cosine).

    Args:
        train_sources, train_targets: the training pairs.
        sources: sentences to translate.
        batch_size: sentences compared with the training sources at a time.

    Example:
        >>> retrieval_translations(["Das ist gut.", "Ich bin müde."], ["That is good.", "I am tired."],
        ...                        ["Ich bin sehr müde."])
        ['I am tired.']
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    train = vectorizer.fit_transform(train_sources)  # rows are L2-normalised: dot products are cosines
    picks = []
    for begin in range(0, len(sources), batch_size):
        similarity = vectorizer.transform(sources[begin:begin + batch_size]) @ train.T
        picks += np.asarray(similarity.argmax(axis=1)).ravel().tolist()
    return [train_targets[i] for i in picks]
