"""Configuration of the sentiment analysis application."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import TrainConfig, option
from common.errors import UsageError


@dataclass
class SentimentConfig(TrainConfig):
    """A transformer encoder or bidirectional RNN text classifier, with a naive-Bayes-started linear n-gram path
    (`wide`); see `dlsuite sentiment config`."""

    dataset: str = option("vader_movies", "Labelled text: vader_movies or vader_all (embedded), tfds:imdb_reviews, "
                                          "a CSV file (text_column, label_column) or a folder of <class>/*.txt.")
    text_column: str = option("text", "CSV datasets: the column holding the text.")
    label_column: str = option("label", "CSV datasets: the column holding the label (any values).")
    epochs: int = option(8, "Maximum number of training epochs.", min=1)
    batch_size: int = option(64, "Global batch size (split across replicas).", min=1)
    learning_rate: float = option(1e-3, "Initial learning rate.", min=0.0)
    lr_schedule: str = option("cosine", "Learning-rate schedule.", choices=("constant", "cosine", "exponential"))
    model: str = option("transformer", "Model family: a transformer encoder, or a bidirectional LSTM or GRU.",
                        choices=("transformer", "bilstm", "bigru"))
    preset: str = option("", "A KerasHub TextClassifier preset to fine-tune instead of `model`: a local folder written by "
                             "save_to_preset, dlsuite:bert_small_en (the suite's own BERT, pre-trained by language_model "
                             "once into the data-dir cache), or a KerasHub name / kaggle:// / hf:// handle (needs "
                             "internet). Its tokenizer replaces the vocabulary; sequence_length still applies.",
                         flag=True)
    max_tokens: int = option(20000, "Vocabulary size of the TextVectorization layer (out-of-vocabulary words share "
                                    "one id), learned from the training split only.", min=3)
    sequence_length: int = option(64, "Tokens per text: longer texts are cut, shorter ones padded.", min=1)
    ngrams: int = option(1, "TextVectorization: also index word n-grams up to this n (1 = words only).", min=1)
    embed_dim: int = option(128, "Width of the token embeddings (and of the transformer's tokens).", min=1)
    depth: int = option(1, "Transformer: encoder blocks; RNN: stacked bidirectional layers.", min=1)
    heads: int = option(4, "Transformer: attention heads per block.", min=1)
    mlp_dim: int = option(256, "Transformer: hidden units of each block's GELU MLP.", min=1)
    rnn_units: int = option(64, "RNN: units per direction of each recurrent layer.", min=1)
    wide: bool = option(True, "Wide and deep: add a linear model of the text's bag of word n-grams (started at naive "
                              "Bayes on the training split) to the network's logits; false for the network alone.")
    wide_ngrams: int = option(2, "Wide path: word n-grams up to this n.", min=1)
    wide_tokens: int = option(100_000, "Wide path: the most frequent n-grams of the training split kept.", min=2)
    wide_scale: float = option(0.25, "Wide path: its naive Bayes start is scaled by this before training (1 = naive "
                                     "Bayes itself; smaller lets the network's logits count more).", min=0.0)
    token_dropout: float = option(0.0, "In training, the share of words replaced by the out-of-vocabulary token.",
                                  min=0.0)
    dropout: float = option(0.3, "Dropout after the embeddings, inside the blocks and before the classifier.", min=0.0)
    examples: int = option(8, "Test sentences shown with their predictions in TensorBoard (Text tab).", min=0)

    def validate(self):
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout={self.dropout} must be in [0, 1)")
        if not 0.0 <= self.token_dropout < 1.0:
            raise UsageError(f"token_dropout={self.token_dropout} must be in [0, 1)")
        if self.model == "transformer" and self.embed_dim % self.heads:
            raise UsageError(f"embed_dim={self.embed_dim} must be a multiple of heads={self.heads}")
