"""Face detection (`face_detection`): a sliding-window face detector on a 25x25 face/non-face CNN.

Offline by default::

    dlsuite face_detection train --output-dir runs/faces
    dlsuite face_detection predict --run runs/faces astronaut my_photo.jpg   # boxes drawn in runs/faces/predictions/

A 25x25 face/non-face CNN (`detector.build_face_classifier`) is trained on scikit-image's
`lfw_subset` (`data.LfwSubset`, an embedded TFDS set with a fixed stratified 140/20/40 split) plus
windows of face-free scikit-image photos: fresh random ones every epoch, then hard negatives mined
by the model itself in a few bootstrapping rounds (`task.FaceDetection.phases`). `predict` slides it
over an image pyramid, keeps windows above `threshold`, applies non-max suppression, prints the
boxes and writes the photo with its boxes to RUN/predictions (or `predictions_dir`). Inputs are image files or the
scikit-image photo names in `task.PHOTO_NAMES` (e.g. `astronaut`). The test metrics are
the classifier's accuracy on the 40 held-out windows and the IoU of the best box on the astronaut
photo with the face box marked there by hand (`task.ASTRONAUT_FACE`); the baseline is
HOG features + a linear SVM on the same split.
"""
