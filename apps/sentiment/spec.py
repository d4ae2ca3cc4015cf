"""What the command line knows of sentiment without importing TensorFlow (the task itself: `task.py`)."""

from __future__ import annotations

from apps.sentiment.config import SentimentConfig
from common.spec import AppSpec, EmbeddedSet


VADER_MOVIES = EmbeddedSet(
    "vader_movies", "text",
    "10,568 movie-review sentences, positive/negative by mean human rating (vaderSentiment sdist).")
VADER_ALL = EmbeddedSet(
    "vader_all", "text",
    "Movie, tweet, product and editorial sentences with human ratings, positive/negative (vaderSentiment sdist).")


SPEC = AppSpec(
    name="sentiment",
    description=("text classifier from raw sentences: transformer encoder or bidirectional LSTM/GRU plus a naive-Bayes-"
                 "started n-gram path (wide and deep), vs TF-IDF + "
                 "logistic regression and the VADER and TextBlob lexicons; scored on tweets, product reviews and "
                 "editorials too"),
    config_class=SentimentConfig,
    task="apps.sentiment.task:Sentiment",
    models=("transformer", "bilstm", "bigru"),
    embedded_datasets=(VADER_MOVIES, VADER_ALL),
)
