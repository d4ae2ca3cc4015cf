"""Fundamentals: the building blocks of the other applications made visible, on one real task.

    dlsuite fundamentals train                                    # every study on digits (~10 min on 2 cores)
    dlsuite fundamentals train --study scratch                    # or --set study=activations|optimizers|...
    dlsuite fundamentals train --study optimizers --set optimizers=[sgd,adam] --set learning_rates=[0.01,0.1]
    dlsuite fundamentals train --dataset mnist5k --set seeds=1
    tensorboard --logdir DIR/logs                                 # one curve per study/variant/seed

* `scratch` (`scratch.py`): a dense network with its weights and biases as `keras.Variable`s, the
  forward pass and the cross-entropy in `keras.ops`, gradients from `tf.GradientTape`, and SGD and
  Adam written out as formulas. Its gradients are compared with central finite differences (float64),
  and its training with a `keras.Sequential` of `Dense` layers trained by `model.fit` from the same
  initial weights on the same batches (the largest weight difference is reported).
* `activations`, `optimizers` (SGD, SGD + momentum, RMSprop, Adam, AdamW at several learning rates),
  `capacity` (depth x width): `build_mlp` networks trained with `model.fit`, one thing changed at a time,
  each variant over `seeds` seeds; a markdown table (mean ± sd) and a two-panel plot per study.
* `regularization`: a wide network on few examples (`reg_train_samples`), trained long, with no
  regulariser, dropout, L1, L2 or early stopping; train/validation gap and test accuracy of each.
* Output: `DIR/tables.md` (and metrics.json "test" -> "tables"), `DIR/plots/<study>.png` (also in
  TensorBoard's Images tab), TensorBoard scalars in `DIR/logs/<study>/<variant>/seed<N>/`, and
  `DIR/model.keras`: the variant with the best validation accuracy (metrics.json "test" -> "accuracy"
  is its test accuracy). Baseline: scikit-learn logistic regression on the same training data.
* Resuming: each finished (variant, seed) is kept in `DIR/checkpoints/results/`; rerunning the same
  command trains only what is missing (each from its own seed, its partial curves removed first), so it
  ends as an uninterrupted run, timings aside.
"""
