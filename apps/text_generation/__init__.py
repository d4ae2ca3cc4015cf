"""Text generation: character-level language models, stacked GRU/LSTM layers or a small GPT-style decoder, or a
KerasHub `CausalLM` preset fine-tuned on the text.

    dlsuite text_generation train                              # pydoc_topics, 2 x 384 GRU, ~5 min on 2 cores
    dlsuite text_generation train --set model=gpt --set depth=3 --set learning_rate=2e-3 --epochs 12
    dlsuite text_generation train --set model=lstm
    dlsuite text_generation train --dataset tfds:tiny_shakespeare   # internet once
    dlsuite text_generation train --dataset my_book.txt --set sequence_length=256
    dlsuite text_generation generate --run DIR --prompt "The with statement" --length 400 \\
        --temperature 0.8 --top-p 0.95 --seed 1
    dlsuite text_generation predict --run DIR "def " "A list"   # one continuation per prompt (JSON lines)
    dlsuite text_generation train --preset path/to/gpt2_preset --set learning_rate=5e-5   # a KerasHub CausalLM
    dlsuite text_generation export --run DIR --format preset   # the fine-tuned CausalLM as a preset folder

* Data (`data.py`): one string per split. `pydoc_topics` (default) is CPython's own documentation
  topics (`pydoc_data.topics`, always installed, about 465,000 characters in 3.11); `fortunes` reads
  Debian's fortune files (`apt-get install fortunes`); `tfds:tiny_shakespeare` (or any TFDS set with a
  text feature) uses its own splits; any UTF-8 text file. Files and the embedded corpora are split
  contiguously 80/10/10 (train, validation, test).
* Character level: the vocabulary is the characters of the training text, kept inside the model
  (`CharacterEmbedding`'s config), so a saved model carries it; id 0 stands for any other character.
  An epoch is `epoch_examples` windows of `sequence_length` characters at random positions, each with
  its next-character targets.
* Models (`model.py`): stacked GRU (default) or LSTM layers, or a GPT-style decoder (`--set model=`):
  character embeddings plus a causal convolution over the last `conv_kernel` (4) characters, learned
  position embeddings, pre-norm KerasHub `TransformerDecoder` blocks (causal multi-head
  self-attention and a GELU MLP). The GPT
  trains with a learning-rate warm-up and gradient clipping (without them it sat near the unigram
  loss for hundreds of steps); the RNNs without (clipping slowed them). In a 5-minute CPU budget
  the GRU learns fastest per second: it is the default, the GPT is the benchmark's second row.
* Metrics: test cross-entropy, bits per character (cross-entropy / ln 2) and perplexity over
  consecutive windows of the test text, next to an interpolated Witten-Bell character n-gram
  (`ngram.py`, n chosen on the validation text) scored on the same characters in the same run.
* Generation (`generation.py`) is incremental: the GPT keeps a cache of attention keys and values,
  the RNNs carry their states, so each character costs one step. Sampling with temperature (0 =
  greedy), top-k and top-p, seeded. A prompt character outside the vocabulary is an error; a prompt
  longer than the GPT's context is cut to its last `sequence_length` characters, with a warning.
* Presets (`preset.py`, `--preset`): a KerasHub `CausalLM` fine-tuned on windows of the text with its
  own tokenizer and `CausalLMPreprocessor`, scored in bits per character over the whole test text
  (its nats over the characters), sampled with its own `generate` and the KerasHub sampler that
  `sampler` names (greedy, random, top_k, top_p; auto from the settings).
* TensorBoard's Text tab (and `DIR/examples/generations.md`) shows continuations of prompts from the
  validation text during training and from the test text at the end. The exported SavedModel maps
  character ids `(batch, time)` to next-character logits.
"""
