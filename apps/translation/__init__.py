"""Translation of sentences: a Transformer or an RNN encoder–decoder with attention, trained with teacher forcing,
decoded greedily or with beam search, and scored with sacrebleu's BLEU and chrF.

    dlsuite translation train                                    # de_en_sentences, German -> English, Transformer
    dlsuite translation train --set model=rnn --set cell=lstm     # bidirectional LSTM encoder, Luong attention
    dlsuite translation train --direction en-de                   # English -> German
    dlsuite translation train --dataset bible_es_en --set max_length=40   # Spanish -> English Bible verses
    dlsuite translation train --dataset pairs.tsv                 # your own source<TAB>target lines (UTF-8)
    dlsuite translation train --dataset tfds:ted_hrlr_translate/pt_to_en   # internet once
    dlsuite translation train --preset DIR                       # fine-tune a KerasHub Seq2SeqLM preset (BART, T5)
    dlsuite translation translate --run DIR "Das ist gut." "Wo ist der Bahnhof?"   # greedy
    dlsuite translation translate --run DIR --beam-size 4 "Das ist gut."
    dlsuite translation predict --run DIR "Das ist gut."          # JSON: greedy and beam (beam_size) translations
    dlsuite translation evaluate --run DIR                        # BLEU/chrF again; export --run DIR: SavedModel

* Data (`data.py`): `de_en_sentences`, the example sentences of Debian's German–English dictionary
  `trans-de-en` (`/usr/share/trans/de-en`; without it, a one-line error that says
  `apt-get install trans-de-en`), an embedded TFDS builder: in `German :: English` lines the
  `|`-separated alternatives are aligned, and where both sides' first `;`-synonym reads as a
  sentence after the annotations (`{m}`, `[coll.]`, `<...>`, `(...)`) are removed (upper-case
  start, `.`/`!`/`?` end, three words or more, no `/` alternatives or `…` gaps) the pair is kept:
  17,174 distinct pairs from the 2023-01-30 file, split 80/10/10 with seed 0 so that no German and
  no English sentence is in two splits (13,740 / 1,717 / 1,717). `bible_es_en` (`bible.py`), the
  verses of the Reina-Valera 1909 and the World English Bible from Debian's SWORD modules
  (`sword-text-sparv`, `sword-text-web`; without them, a one-line error with the `apt-get install`
  command), read with pysword, aligned by reference and cleaned of OSIS markup (notes, headings,
  Strong's numbers), misaligned chapters and verses left out: 30,868 pairs, split by book
  (validation Judges, Job, John, 1 Corinthians; test Joshua, Proverbs, Acts, Romans): 24,886 /
  2,986 / 2,996. Also TSV files and TFDS sets with two text features.
* Tokens (`common/seq2seq/tokens.py`): lower-cased words, each punctuation mark a token. The source vocabulary
  lives in the model's `TextVectorization` layer and the target vocabulary in its output layer, so
  a saved or exported model takes raw sentences and needs nothing on the side. Targets are wrapped
  in [start]/[end]; training pairs longer than `max_length` (32) tokens are left out.
* Models (`common/seq2seq/model.py`): a pre-norm Transformer encoder–decoder (the suite's encoder blocks plus
  decoder blocks with causal self-attention and cross-attention), or a (bidirectional) GRU/LSTM
  encoder with a GRU/LSTM decoder and Luong ("general") or Bahdanau (additive) attention.
* Decoding (`common/seq2seq/decoding.py`): greedy, or batched beam search with GNMT length normalisation
  (`beam_size` 1 is greedy), incremental: the sources encoded once, then one compiled step per token
  (cached self-attention keys and values, or the carried RNN state), batched across sentences. Neither writes '[UNK]'. A sentence longer than `max_length` tokens
  is cut to its first `max_length` tokens, with a warning on stderr (`translate`, `predict`).
* Evaluation: BLEU and chrF (sacrebleu, lower-cased, since the models write lower case) of greedy
  and beam-search translations of the first `eval_sentences` (500) test sentences, the
  teacher-forced test loss, perplexity and token accuracy, and the share of test words the
  model's vocabularies know: under 50% on either side (another language pair or direction) the
  evaluation stops with an error rather than report meaningless scores.
* Baseline (`common/seq2seq/baseline.py`): nearest-neighbour retrieval, the training translation of the most
  similar training source (TF-IDF of words and word pairs, cosine), on the same sentences.
* TensorBoard's Text tab (and `DIR/examples/translations.md`) shows test sentences with their
  reference, greedy and beam translations.
* Preset (`--preset`, `common/seq2seq/preset.py`): a KerasHub `Seq2SeqLM` (BART, T5, ...) fine-tuned on the
  (source, target) strings with its own tokenizer and packers, decoded by its `generate` with KerasHub's
  greedy and beam samplers, scored with the same BLEU/chrF against the same retrieval; its loss and
  perplexity are per word token (as above), per preset token beside them. `export --format preset`
  writes a folder `keras_hub.models.Seq2SeqLM.from_preset` loads; its SavedModel takes token ids.
* Export: the SavedModel's `serving_default` takes `source` strings `(batch, 1)` and `target` ids
  `(batch, time)` and returns next-word logits (one decoding step); the decoding loop is
  `common.seq2seq.decoding.Translator`.

Figures and limits: README.md beside this package.
"""
