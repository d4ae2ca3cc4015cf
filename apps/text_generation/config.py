"""Configuration of the text generation application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


@dataclass
class TextGenerationConfig(TrainConfig):
    """A character-level stacked GRU/LSTM or GPT-style decoder language model, or a KerasHub `CausalLM` preset
    fine-tuned on the text; see `dlsuite text_generation config`.

    The defaults train the GRU for 6 x 50 steps, about 5 minutes on 2 CPU cores.
    """

    dataset: str = option("pydoc_topics", "Text corpus: pydoc_topics (CPython's own documentation topics, always "
                                          "installed), fortunes (Debian's fortunes package), tfds:tiny_shakespeare, "
                                          "or a path to a UTF-8 text file.")
    epochs: int = option(6, "Maximum number of training epochs (each of `epoch_examples` windows).", min=1)
    batch_size: int = option(64, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(3e-3, "Initial learning rate (after the warm-up, if any).", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    warmup_steps: int = option(-1, "Steps of linear learning-rate warm-up from 0 (constant and cosine schedules); "
                                   "-1 = the model family's: 40 for the GPT and a preset (it barely learns in a short "
                                   "run without), 0 for the RNNs.", min=-1)
    clipnorm: float = option(-1.0, "Clip the gradients to this global norm; 0 = no clipping, -1 = the model "
                                   "family's: 1.0 for the GPT and a preset, none for the RNNs (it slowed them).",
                             min=-1.0)
    model: str = option("gru", "Model family: stacked GRU or LSTM layers, or a GPT-style decoder (causal "
                               "self-attention).", choices=("gru", "lstm", "gpt"))
    preset: str = option("", "A KerasHub CausalLM preset to fine-tune instead of `model`: a local folder written by "
                             "save_to_preset, or a KerasHub name (gpt2_base_en, ...) / kaggle:// / hf:// handle (needs "
                             "internet). Its tokenizer replaces the characters: sequence_length, generate_length and "
                             "--length count its tokens; the model-shape fields (embed_dim, depth, ...) do not apply.",
                         flag=True)
    sequence_length: int = option(128, "Characters per training window; also the GPT's context (positions learned). "
                                       "With a preset: tokens per window (at most the preset's context).", min=2)
    epoch_examples: int = option(3200, "Training windows per epoch, drawn at random positions of the training text "
                                       "(a window of sequence_length characters and its next-character targets).",
                                 min=1)
    embed_dim: int = option(128, "Width of the character embeddings (and of the GPT's tokens).", min=1)
    depth: int = option(2, "RNN: stacked recurrent layers; GPT: decoder blocks.", min=1)
    heads: int = option(4, "GPT: attention heads per block.", min=1)
    mlp_dim: int = option(512, "GPT: hidden units of each block's GELU MLP.", min=1)
    conv_kernel: int = option(4, "GPT: add to each character's embedding a causal convolution over it and the "
                                 "conv_kernel - 1 characters before it (0 = none).", min=0)
    rnn_units: int = option(384, "RNN: units of each recurrent layer.", min=1)
    dropout: float = option(0.0, "Dropout after the embeddings and inside the blocks (between RNN layers); short "
                                 "runs do not overfit.", min=0.0)
    ngram_max_order: int = option(6, "n-gram baseline: the largest n tried; n is chosen on the validation text.", min=1)
    sampler: str = option("auto", "Sampling: greedy (the likeliest token), random (from all, with temperature), "
                                  "top_k, top_p (top_k first if set), or auto: greedy at temperature 0, else top_p "
                                  "if top_p < 1, else top_k if top_k > 0, else random. A preset samples with the "
                                  "KerasHub sampler of that name (keras_hub.samplers).",
                          choices=("auto", "greedy", "random", "top_k", "top_p"))
    temperature: float = option(0.8, "Sampling: logits are divided by it (0 = greedy, always the likeliest character).",
                                min=0.0)
    top_k: int = option(0, "Sampling: draw only from the k likeliest characters (0 = all).", min=0)
    top_p: float = option(0.95, "Sampling: draw only from the smallest set of likeliest characters whose probabilities "
                                "add up to top_p (nucleus sampling; 1 = all).", min=0.0)
    generate_length: int = option(300, "Characters (a preset: tokens) generated by `predict` and for the TensorBoard "
                                       "examples.", min=1)
    examples: int = option(3, "Prompts from the text whose continuations are shown in TensorBoard (Text tab).", min=0)

    @property
    def transformer(self) -> bool:
        """Whether the model is a transformer (the GPT or a preset), which trains with warm-up and clipping."""
        return bool(self.preset) or self.model == "gpt"

    @property
    def effective_warmup_steps(self) -> int:
        """`warmup_steps`, with -1 resolved for the model family."""
        return self.warmup_steps if self.warmup_steps >= 0 else (40 if self.transformer else 0)

    @property
    def effective_clipnorm(self) -> float:
        """`clipnorm`, with -1 resolved for the model family (0 = none)."""
        return self.clipnorm if self.clipnorm >= 0 else (1.0 if self.transformer else 0.0)

    def validate(self):
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
        if not 0.0 < self.top_p <= 1.0:
            raise UsageError(f"top_p={self.top_p} must be in (0, 1]")
        if self.sampler == "top_k" and self.top_k < 1 and self.temperature > 0:
            raise UsageError("sampler=top_k needs top_k >= 1")
        if not self.preset and self.model == "gpt" and self.embed_dim % self.heads:
            raise UsageError(f"embed_dim={self.embed_dim} must be a multiple of heads={self.heads}")
