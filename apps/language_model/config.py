"""Configuration of the language_model application (masked-language-model pre-training)."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


@dataclass
class LanguageModelConfig(TrainConfig):
    """A small BERT encoder pre-trained by masked-language modelling; see `dlsuite language_model config`."""

    dataset: str = option("english_corpus", "Text: english_corpus (embedded: WordNet, GCIDE, the World English "
                                            "Bible, pydoc topics, chatterbot, vader sentences), a .txt file (one text "
                                            "a line) or a folder of .txt files.")
    preset: str = option("", "A KerasHub MaskedLM preset to go on pre-training instead of a new BERT: a local folder "
                             "written by save_to_preset (e.g. an earlier run's export --format preset), or a KerasHub "
                             "name / kaggle:// / hf:// handle (needs internet). Its tokenizer replaces the learned "
                             "vocabulary.", flag=True)
    train_steps: int = option(3000, "The budget: optimizer steps in all, spread evenly over the epochs; each step "
                                    "takes the next batch_size sequences of the shuffled corpus (raise it on a GPU).",
                              min=1)
    epochs: int = option(5, "Epochs the budget is cut into (a checkpoint, validation and a progress line each).",
                         min=1)
    batch_size: int = option(64, "Global batch size, in sequences (split across replicas).", min=1)
    optimizer: str = option("adamw", "Optimizer.", choices=("sgd", "adam", "adamw", "rmsprop"))
    learning_rate: float = option(1e-3, "Peak learning rate, after the warm-up.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule after the warm-up.",
                              choices=("constant", "cosine", "exponential"))
    warmup_steps: int = option(300, "Linear learning-rate warm-up over this many steps (BERT needs one).", min=0)
    weight_decay: float = option(0.01, "Decoupled weight decay for adamw.", min=0.0)
    vocabulary_size: int = option(8000, "Most WordPiece tokens learned (lower-cased, the 5 BERT special tokens "
                                        "included).", min=16)
    vocabulary_words: int = option(15000, "Learn the vocabulary from this many most frequent words of the training "
                                          "texts (the learner is slow: about a minute per 15,000 words on 2 cores).",
                                   min=10)
    sequence_length: int = option(64, "Tokens per sequence ([CLS] and [SEP] included); the backbone's "
                                      "max_sequence_length.", min=8, max=512)
    pack_words: int = option(40, "Join consecutive texts of a source into sequences of about this many words "
                                 "(0 = one text a sequence, mostly padding for glosses and verses).", min=0)
    vader_repeat: int = option(4, "english_corpus: the vader sentences (sentiment's domain) appear this many times "
                                  "in the training set, each time in another order.", min=0)
    mask_rate: float = option(0.15, "Share of the tokens selected for prediction (of those 80% become [MASK], 10% "
                                    "a random token, 10% stay).", min=0.0)
    num_layers: int = option(2, "Transformer encoder blocks of the BertBackbone.", min=1)
    num_heads: int = option(2, "Attention heads per block.", min=1)
    hidden_dim: int = option(128, "Width of the token vectors (a multiple of num_heads).", min=1)
    intermediate_dim: int = option(512, "Hidden units of each block's feed-forward layer.", min=1)
    dropout: float = option(0.1, "Dropout of the backbone.", min=0.0)
    eval_sequences: int = option(2000, "Score at most this many held-out sequences (validation each epoch, test at "
                                       "the end; 0 = all).", min=0)

    def validate(self):
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
        if not 0.0 < self.mask_rate < 1.0:
            raise UsageError(f"mask_rate={self.mask_rate} must be in (0, 1)")
        if self.hidden_dim % self.num_heads:
            raise UsageError(f"hidden_dim={self.hidden_dim} must be a multiple of num_heads={self.num_heads}")
        if self.train_steps < self.epochs:
            raise UsageError(f"train_steps={self.train_steps} gives epochs={self.epochs} less than a step each")
