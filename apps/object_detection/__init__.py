"""Object detection: an anchor-free single-stage detector on scenes of real digits (default) or TFDS detection sets.

    dlsuite object_detection train                                  # digit_scenes, 12 epochs
    dlsuite object_detection train --dataset tfds:voc --image-size 256   # needs TFDS to prepare voc (internet)
    dlsuite object_detection predict --run DIR scene.png            # prints boxes, writes scene.boxes.png

* Data (`data.py`): `digit_scenes`, a TFDS builder of 96x96 grey scenes with 1-4 real MNIST digits
  from mnist5k at 14-36 px and their exact boxes (train/validation/test scenes use disjoint source
  digits), or any TFDS set with `image` and `objects{bbox, label}` (`tfds:voc`, `tfds:coco/2017`).
* Model (`model.py`): CenterNet-style (Zhou et al., 2019): a CNN backbone to stride 16 and a
  top-down path back to stride 4, with a class heat-map head (penalty-reduced focal loss), a box
  size head and a centre offset head (masked L1 losses): one Keras loss per output in `model.fit`.
* Boxes (`boxes.py`): targets encoded in `tf.data`; decoding by 3x3 max-pool peaks, top-k and
  `tf.image.combined_non_max_suppression`.
* Metrics (`coco.py`): COCO mAP (IoU 0.50:0.95), mAP@0.5, mAP@0.75 and per-class AP by pycocotools.
* Baseline (`baseline.py`): connected components proposed as boxes, classified by an RBF SVC.

The saved model returns the raw maps {"heatmap", "size", "offset"} (`boxes.decode` turns them into
boxes); the exported SavedModel (`dlsuite object_detection export`) returns the decoded detections
too: normalised "boxes" (y0, x0, y1, x1), "scores", "classes" and "num_detections" per image.

Figures and limits: README.md beside this package.
"""
