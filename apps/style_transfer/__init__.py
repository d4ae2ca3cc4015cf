"""Neural style transfer: optimisation of one image, and a fast feed-forward network trained for one style.

    dlsuite style_transfer train                                     # astronaut + immunohistochemistry, offline
    dlsuite style_transfer train --style brick --content chelsea --set steps=500
    dlsuite style_transfer train --weights imagenet                  # VGG19 features (internet once)
    dlsuite style_transfer train --weights vgg19_notop.h5            # VGG19 weights from a file
    dlsuite style_transfer predict --run DIR photo.jpg coffee        # the fast network: one pass per image
    dlsuite style_transfer stylize --run DIR --content me.jpg --style gravel --steps 300   # optimisation
    dlsuite style_transfer export --run DIR                          # the fast network as a SavedModel

* Loss (`model.py`): content loss = relative squared error of the content layer's feature maps; style loss =
  mean over the style layers of the relative squared error of their Gram matrices (channel correlations
  averaged over positions); total variation = mean squared neighbour difference. Relative errors make the
  losses dimensionless (0 = matched, 1 = as far as all zeros), so one set of weights suits both extractors.
* Extractor: `--weights random` (default, offline): a fixed, seeded network of five 3x3 random-filter
  stages with average pooling (multi-scale; random filters capture texture statistics, Ustyuzhaninov et al.
  2017; see `model.py`); `--weights imagenet|PATH`: VGG19 (conv1 of each block for style, block4_conv2 for
  content).
* `train`: (1) the optimisation method (Gatys et al. 2016): Adam on the pixels of `content`, starting from it,
  `steps` steps; losses per step in TensorBoard (`logs/optimize`) and `optimize_losses.csv`, the image in
  `images/`. (2) The fast network (Johnson et al. 2016, smaller, instance norm, upsample + conv) trained on
  random crops of `dataset` photos (`logs/train`: losses per step, previews), resumable per epoch
  (a resumed run ends as an uninterrupted one, timings aside). (3) Scores
  on the held-out `test_images` for the fast network and two baselines (the content image itself; per-channel
  colour transfer), written to metrics.json with the optimisation's losses at the start and the end;
  `plots/comparison.png`, `images/*.png`, `model.keras` (the fast network; `export` serves it).
* `stylize` runs the optimisation method with a finished run's extractor and loss weights.
"""
