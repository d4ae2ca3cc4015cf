"""GANs: a DCGAN or class-conditional GAN (BCE or WGAN-GP loss) on mnist5k (default), digits, TFDS sets or folders.

    dlsuite gan train                                  # conditional GAN on mnist5k, 25 epochs
    dlsuite gan train --set model=dcgan                # unconditional DCGAN
    dlsuite gan train --set loss=wgan_gp --set beta_1=0 --set beta_2=0.9 --set learning_rate=1e-4
                                                       # WGAN-GP with its paper's Adam settings, 5 critic steps
    dlsuite gan train --dataset tfds:fashion_mnist     # internet once (or --data-dir with it prepared)
    dlsuite gan train --dataset tfds:cifar10 --set width=64
    dlsuite gan generate --run DIR --count 16 --label 7   # PNG files in DIR/generated (or --out)
    dlsuite gan evaluate --run DIR                     # FID, KID, class accuracy again
    dlsuite gan export --run DIR                       # SavedModel: (noise, label) -> images

* Model (`model.py`), the Keras way: `GAN` is a `keras.Model` subclass with its own
  `compile(d_optimizer, g_optimizer, loss, gp_weight, d_steps)`, a `train_step` that updates the
  discriminator `d_steps` times and then the generator, `Mean` trackers in `metrics` (`d_loss`,
  `g_loss` and their sum `loss`, which the suite's NaN stop watches), a `SeedGenerator` for the
  noise, and `get_config`/`from_config`, so the whole GAN round-trips through `.keras` files. It
  trains with one `fit()` call in the suite's shared training path (TensorBoard, CSV log,
  BackupAndRestore resume, best checkpoint). Generator: dense projection to a quarter-size map and
  two stride-2 transposed convolutions with batch norm, tanh output. Discriminator: two stride-2
  convolutions with leaky ReLU and no batch norm (WGAN-GP's per-example penalty forbids it).
  Conditional (`model=cgan`, the default): the generator concatenates a label embedding to the
  noise; the discriminator is a projection discriminator (logit + <embedding(label), features>).
  Samples come from an exponential moving average of the generator's weights (`ema_decay`).
* Data: the suite's image loaders (`common.datasets.load_images`), pixels 0..255 in, scaled to
  [-1, 1] inside the train step; image sides must be multiples of 4 (`image_size` resizes).
* Quality is measured, not eyeballed (`quality.py`): the Fréchet distance and the kernel inception
  distance are computed on the penultimate-layer features of a digit classifier the suite trains
  (image_classification's default CNN on the same dataset's train split, cached next to the TFDS
  data dir and shared with transfer_learning's backbone; `classifier_run` uses another run). This is
  a domain-specific FID, NOT the ImageNet-Inception FID of papers (its weights need a download), so
  its numbers only compare models on the same dataset and classifier. The floor is the same
  distance between real train and real test images (baseline `real_train_images`).
  Conditional GANs also report how often that classifier assigns generated images to their
  requested class (`class_accuracy`, and per class).
* Each epoch, `ValidationQuality` adds `val_fid` (fixed-noise samples vs validation images) and
  `val_class_accuracy` to the logs, and the checkpoint kept is the epoch with the lowest `val_fid`
  (GAN losses say who is winning, not how good the samples are); `SampleGrid` writes the fixed-noise
  grid (one row per class) to TensorBoard's Images tab and `plots/samples/epoch_NNN.png`.
* Augmentation, measured: image_classification's default CNN trained on `augment_shots` real images
  per class, with and without `augment_generated` conditional samples per class added (the same
  steps and seed), test accuracy of each and the difference (`augment_gain`). The GAN saw the whole
  labelled train split, so this measures how much class information its samples carry, not a
  few-shot method.
"""
