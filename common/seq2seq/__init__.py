"""Sequence-to-sequence machinery shared by the translation and chatbot applications.

* `tokens`: word-level tokens (one TensorFlow standardization), vocabularies, [start]/[end] targets, detokenization.
* `model`: encoder–decoders that read raw source text: a pre-norm Transformer, or LSTM/GRU cells with attention.
* `decoding`: greedy and beam-search decoding, incremental with one compiled step per token (`Translator`:
  cached keys and values, carried RNN state) or re-running the prefix (`FullTranslator`), sequence log-probabilities.
* `training`: the masked, label-smoothed loss, token accuracy, length-sorted batches, teacher-forced scores,
  vocabulary coverage, markdown cells of the example tables.
* `baseline`: BLEU and chrF (sacrebleu), and the TF-IDF nearest-neighbour retrieval baseline.
* `data`: `ParallelData` (pairs per split), the split that keeps every text in one split, TSV and TFDS pairs.
"""
