"""Tabular prediction: an MLP on raw table rows, its feature engineering inside the model.

    dlsuite tabular train                                        # penguins species (classification)
    dlsuite tabular train --set target=body_mass_g               # penguins body mass (regression)
    dlsuite tabular train --dataset cars.csv --target mpg --set drop_columns=[name]
    dlsuite tabular train --dataset t.csv --target grade --set task_type=classification
    dlsuite tabular train --dataset tfds:titanic --target survived --set drop_columns=[name,boat,body]  # internet once
    dlsuite tabular predict --run DIR rows.csv --set predictions_csv=predicted.csv
    dlsuite tabular export --run DIR                              # SavedModel taking raw columns

* Data (`apps.tabular.data`): `penguins`, palmerpenguins' 344 penguins with 19 missing
  cells, a fixed 70/10/20 split stratified by species (TFDS builder reading the installed
  package); or any CSV, or a `tfds:` set of scalar features, split 70/10/20 with `seed`
  (stratified by the target for classification).
  Classification or regression is inferred from the target (`task_type` overrides it); rows
  without a target are left out.
* Model (`model.py`): one input per column. Numbers go through `Normalization` (training mean and
  variance) and `ImputeWithIndicator` (missing -> the training mean, plus a 0/1 missing
  feature), beside a piecewise linear encoding over `numeric_bins` (8) training quantiles;
  categories through a one-hot `StringLookup` whose vocabulary (training values) has "missing"
  as a category of its own. Then ReLU `Dense` layers with dropout, plus (`wide`) a linear layer
  from the encoded features, and a softmax, or for regression a linear output rescaled to the
  target's units. Saved and exported models take raw rows with missing cells.
* Baselines on the same split: logistic (or linear) regression on imputed, standardised,
  one-hot features with missing indicators; scikit-learn's HistGradientBoosting with its native
  missing-value and categorical support.
* `predict` reads CSV rows (missing cells allowed; the target column, if present, is ignored)
  and prints one JSON line per row; `predictions_csv` also writes them with the predictions.
"""
