"""Chatbot: a generative dialog model trained on (context, reply) pairs, with a retrieval fallback.

    dlsuite chatbot train                                      # chatterbot_corpus (English), GRU + Luong attention
    dlsuite chatbot train --set model=transformer              # Transformer encoder-decoder
    dlsuite chatbot train --language german                    # another language folder of the corpus
    dlsuite chatbot train --dataset dialog.tsv                 # your own context<TAB>reply lines (UTF-8)
    dlsuite chatbot train --preset DIR                         # fine-tune a KerasHub Seq2SeqLM preset (BART, T5)
    dlsuite chatbot chat --run DIR                             # terminal loop; 'quit' or Ctrl-D ends
    printf 'Hello\\nWhat is AI?\\n' | dlsuite chatbot chat --run DIR --fallback off   # one reply per line
    dlsuite chatbot chat --run DIR --beam-size 4 "Hello"       # replies to the messages given
    dlsuite chatbot predict --run DIR "Hello"                  # JSON: reply, confidence, model or retrieval
    dlsuite chatbot evaluate --run DIR                         # perplexity, BLEU/chrF again; export --run DIR

The machinery is the translation application's, shared through `common/seq2seq/`, not copied: the models
(`common.seq2seq.model.build_translator`: a pre-norm Transformer encoder–decoder, or a
bidirectional GRU/LSTM encoder with a GRU/LSTM decoder and Luong or Bahdanau attention), its
tokens and vocabularies (the context vocabulary lives in the model's `TextVectorization` layer,
the reply vocabulary in its output layer, so a saved model takes raw text), teacher forcing with
the masked, label-smoothed cross-entropy, the teacher-forced perplexity, sacrebleu scores, and the
TF-IDF retrieval baseline. The context is the previous turn only.

* Data (`data.py`): `chatterbot_corpus`, the YAML conversations of the `chatterbot-corpus` wheel
  as an embedded TFDS builder with one config per language (28); consecutive turns are pairs.
  English: 2,025 conversations (one malformed entry of `trivia.yml` is skipped), 2,306 pairs,
  split 80/10/10 by whole conversations, and conversations that share a context turn stay in one
  split, so no test prompt was seen in training: 1,868 / 210 / 228 pairs. Training pairs longer
  than `max_length` (40) tokens are left out (108).
* Decoding (`decoding.py`): `IncrementalReplier` (`common.seq2seq.decoding.Translator` plus the
  confidence of each reply) runs translation's greedy and beam-search loops (GNMT length penalty,
  no '[UNK]'): the context encoded once, then one compiled step per token (Transformer: cached
  self-attention keys and values per block; RNN: the carried cell state), with the same replies as
  re-running the decoder over the prefix (tested); timings in README.md. A message longer than `max_length`
  tokens is cut to its first `max_length` tokens, with a warning on stderr.
* Retrieval fallback: where the model's confidence in its greedy reply (mean token
  log-probability) is below a threshold, the reply is the training reply of the most similar
  training context (TF-IDF cosine). `fallback=auto` picks the threshold with the best validation
  BLEU among never, the confidence deciles and always; `chat`/`predict` use the run's choice
  unless `--fallback off|NUMBER` says otherwise.
* Evaluation: teacher-forced test perplexity (vs an add-one unigram model of the reply tokens on
  the same tokens and vocabulary), BLEU and chrF (sacrebleu, lower-cased) of greedy, beam-search
  and fallback replies against the reference replies (vs retrieval), and the validation BLEU
  that chose the threshold. TensorBoard's Text tab (and `DIR/examples/replies.md`) shows
  contexts with reference, greedy (with confidence), beam and retrieval replies.
* Preset (`--preset`): a KerasHub `Seq2SeqLM` fine-tuned on the pairs as translation fine-tunes one
  (`common/seq2seq/preset.py`); its confidence is the mean log-probability of its reply's own tokens, so
  the fallback works the same way.
* Bad input, each one line and exit code 2: an empty message or stdin line, text that is not
  UTF-8, an unknown language, a model file whose vocabularies differ from the ones its run
  recorded (metrics.json keeps their digest), evaluation data whose words the vocabularies mostly
  miss (under 50%, another language), `--beam-size 0`, a bad `fallback`.

Figures and limits: README.md beside this package.
"""
