"""Sentiment analysis of sentences: a transformer encoder or bidirectional RNN on raw text.

    dlsuite sentiment train                                   # vader_movies, transformer
    dlsuite sentiment train --set model=bilstm                # or bigru
    dlsuite sentiment train --dataset reviews.csv --set text_column=review --set label_column=stars
    dlsuite sentiment train --dataset tfds:imdb_reviews --set sequence_length=256   # internet once
    dlsuite sentiment predict --run DIR "A gorgeous, witty film." "Flat and tedious."
    dlsuite sentiment train --preset BERT_PRESET_DIR        # fine-tune a KerasHub TextClassifier preset
    dlsuite sentiment export --run DIR --format preset      # its fine-tuned task as a preset folder

* Data (`apps.sentiment.data`): `vader_movies`, 10,568 movie-review sentences with mean human
  ratings from the vaderSentiment 3.3.2 sdist (fetched from PyPI once and cached), positive or
  negative by the sign of the rating, fixed stratified 70/10/20 split; also `tfds:` sets with a
  text and a label feature, CSV files and `<class>/*.txt` folders.
* Model (`model.py`): `TextVectorization` (vocabulary from the training split) inside the model, so
  saved and exported models take raw strings; then KerasHub's token + position embedding and pre-norm
  `TransformerEncoder` blocks with masked mean pooling, or stacked bidirectional LSTM/GRU layers,
  plus (`wide`, default) a linear model of word n-grams started at naive Bayes whose logits add to
  the network's; or (`--preset`) a KerasHub `TextClassifier` preset with its own preprocessor inside the model.
* Baseline: TF-IDF of words and word pairs + logistic regression (C chosen on validation).
* TensorBoard's Text tab shows test sentences with their predictions (also `DIR/examples/`).
"""
