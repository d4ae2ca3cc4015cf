"""Masked-language-model pre-training of a small English encoder, saved as a KerasHub preset.

    dlsuite language_model train                              # english_corpus, BERT 2x128, 3,000 steps
    dlsuite language_model train --set train_steps=30000      # longer, on a GPU
    dlsuite language_model train --dataset my_texts/          # a folder of .txt files, one text a line
    dlsuite language_model predict --run DIR "the cat sat on the [MASK]."
    dlsuite language_model export --run DIR --format preset   # a KerasHub preset folder
    dlsuite sentiment train --preset dlsuite:bert_small_en    # fine-tune the suite's own, pre-trained once

* Data (`corpus.py`): `english_corpus`, an embedded TFDS builder over WordNet glosses (Debian
  `wordnet-base`), GCIDE definitions (`dict-gcide`), the World English Bible (`sword-text-web`),
  CPython's pydoc topics, the chatterbot-corpus conversations and the vaderSentiment sentences less
  every sentence of sentiment's test splits; 98/1/1 by a hash of each text.
* Model (`model.py`): KerasHub `BertBackbone` + `BertMaskedLM`, its `BertMaskedLMPreprocessor` masking
  with `MaskedLMMaskGenerator`, on a WordPiece vocabulary from `compute_word_piece_vocabulary`.
* Baseline: a unigram model of the training tokens, on the same held-out masks.
* `pretrained.py`: `dlsuite:bert_small_en`, the default config pre-trained once into the data-dir cache.
"""
