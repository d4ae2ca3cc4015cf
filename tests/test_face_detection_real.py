"""Face detection against real detectors on real photos: the baseline wrappers, the hand-marked
faces, the scoring of detections and the threshold calibration."""

import numpy as np
import pytest

from apps.face_detection.data import REAL_PHOTOS, VALIDATION_FACE_SIDE, real_photo, validation_face_photos
from apps.face_detection.detector import (
    box_iou,
    calibrate_threshold,
    match_scores,
    pairwise_iou,
    select_faces,
)

ASTRONAUT_FACE = REAL_PHOTOS["astronaut"][1][0]
# The photos that install with the suite's own dependencies (insightface_t1 is fetched from PyPI).
INSTALLED = ("astronaut", "camera", "grace_hopper")


def test_pairwise_iou_agrees_with_box_iou():
    a = [[0, 0, 10, 10], [5, 5, 20, 25]]
    b = [[0, 0, 10, 10], [5, 0, 15, 10], [30, 30, 40, 40]]
    expected = [[box_iou(x, y) for y in b] for x in a]
    np.testing.assert_allclose(pairwise_iou(a, b), expected)
    assert pairwise_iou(a, np.zeros((0, 4))).shape == (2, 0)


def test_match_scores_counts_each_face_once():
    marked = [[[0, 0, 10, 10]], [[50, 50, 70, 70], [0, 0, 20, 20]]]
    found = [[[0, 0, 10, 11], [1, 0, 10, 10], [80, 80, 90, 90]],  # a face, a duplicate, a false box
             [[50, 50, 70, 72]]]  # one face of two
    scores = match_scores(found, marked)
    assert scores["precision"] == pytest.approx(2 / 4) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["false_boxes"] == 2 and scores["detections"] == 4
    assert scores["mean_iou"] == pytest.approx((10 / 11 + 400 / 440 + 0.0) / 3)
    assert match_scores([[]], [[[0, 0, 10, 10]]]) == {"precision": 0.0, "recall": 0.0, "mean_iou": 0.0,
                                                      "false_boxes": 0, "detections": 0}


def clustered_windows():
    """Five windows around a "face" at (100, 100, 150, 150) with logit 4, and one lone window with logit 6."""
    boxes = np.array([[100, 100, 150, 150], [104, 100, 154, 150], [100, 104, 150, 154], [96, 96, 150, 150],
                      [102, 102, 148, 148], [300, 300, 340, 340]], np.float64)
    return np.array([4.0, 3.5, 3.0, 2.5, 2.0, 6.0], np.float32), boxes


def test_neighbour_count_drops_lone_windows():
    logits, boxes = clustered_windows()
    alone = select_faces(logits, boxes, threshold=0.5, min_neighbors=1)
    assert [f["box"] for f in alone] == [[300, 300, 340, 340], [100, 100, 150, 150]]
    assert [f["neighbors"] for f in alone] == [1, 5]
    assert [f["box"] for f in select_faces(logits, boxes, threshold=0.5, min_neighbors=3)] == [[100, 100, 150, 150]]
    # Above logit 3 the face keeps three windows: still a face at min_neighbors=3, not at 4.
    assert len(select_faces(logits, boxes, threshold=1 / (1 + np.exp(-2.9)), min_neighbors=3)) == 1
    assert select_faces(logits, boxes, threshold=1 / (1 + np.exp(-2.9)), min_neighbors=4) == []


def test_calibration_picks_the_lowest_threshold_without_false_boxes():
    logits, boxes = clustered_windows()  # a face-free validation photo whose clutter looks like a face
    faces = np.linspace(3.0, 12.0, 10)
    found = calibrate_threshold([(logits, boxes)], faces, min_neighbors=1, min_recall=0.5)
    assert found["logit"] == 6.25 and found["false_boxes"] == 0 and found["face_recall"] == pytest.approx(0.6)
    assert found["threshold"] == pytest.approx(1 / (1 + np.exp(-6.25)))
    # With the neighbour test the lone window is no box, and the cluster is none once under three windows
    # are left above the threshold (logits 4 and 3.5 above 3.25).
    assert calibrate_threshold([(logits, boxes)], faces, min_neighbors=3, min_recall=0.5)["logit"] == 3.25
    # A threshold that would keep too few faces is capped (at the 2nd lowest face, logit 4): false boxes
    # stay, and are counted.
    capped = calibrate_threshold([(logits, boxes)], faces, min_neighbors=1, min_recall=0.8)
    assert capped["logit"] == 4.0 and capped["false_boxes"] == 2 and capped["face_recall"] == pytest.approx(0.9)


def test_calibration_on_photos_with_marked_faces_maximises_faces_less_false_boxes():
    logits, boxes = clustered_windows()  # the cluster on a marked face; the lone window moved below it
    logits[-1] = 3.0
    portrait = [[[100, 100, 150, 150]]]
    found = calibrate_threshold([(logits, boxes)], np.array([9.0]), marked=portrait, min_recall=1.0)
    # Up to logit 3 the face and the lone box (score 0); above 3 the face alone (1); above 4 nothing (0).
    # The face-window cap (logit 9 at min_recall=1) does not apply once photos have marked faces.
    assert found["logit"] == 3.25 and found["faces_found"] == 1 and found["faces"] == 1
    assert found["false_boxes"] == 0 and found["face_recall"] == 1.0
    clutter = (np.array([3.5], np.float32), np.array([[0, 0, 40, 40]], np.float64))  # a face-free photo
    both = calibrate_threshold([(logits, boxes), clutter], np.array([9.0]), marked=[*portrait, []])
    assert both["logit"] == 3.75 and both["false_boxes"] == 0
    # A face no window finds: the threshold still drops every false box.
    missed = calibrate_threshold([(logits, boxes)], np.array([9.0]), marked=[[[400, 0, 450, 50]]])
    assert missed["faces_found"] == 0 and missed["false_boxes"] == 0 and missed["logit"] == 4.25


def test_blazeface_anchors():
    from apps.face_detection.baselines import blazeface_anchors

    anchors = blazeface_anchors()
    assert anchors.shape == (896, 2) and anchors.min() > 0 and anchors.max() < 1
    np.testing.assert_allclose(anchors[:2], [[1 / 32, 1 / 32]] * 2)  # two per cell of the 16x16 grid
    np.testing.assert_allclose(anchors[512], [1 / 16, 1 / 16])  # then six per cell of the 8x8 grid


@pytest.mark.parametrize("name", ["haar_cascade", "blazeface"])
def test_baselines_find_the_astronaut(name):
    from apps.face_detection.baselines import BASELINES

    faces = BASELINES[name](real_photo("astronaut"))
    assert len(faces) == 1 and box_iou(faces[0]["box"], ASTRONAUT_FACE) >= 0.5
    assert set(faces[0]) == {"box", "score"}


def test_hand_marked_faces_agree_with_blazeface():
    """Each installed photo's face marked by hand is where BlazeFace finds its one face."""
    from apps.face_detection.baselines import blazeface_faces

    for name in INSTALLED:
        faces = blazeface_faces(real_photo(name))
        assert len(faces) == 1 and box_iou(faces[0]["box"], REAL_PHOTOS[name][1][0]) >= 0.55, name


@pytest.mark.slow
def test_mtcnn_finds_every_marked_face(tmp_path):
    """MTCNN (tens of seconds to build on a CPU) on every real photo, the fetched insightface one included."""
    from apps.face_detection.baselines import mtcnn_faces

    found = [[f["box"] for f in mtcnn_faces(real_photo(name, str(tmp_path)))] for name in REAL_PHOTOS]
    scores = match_scores(found, [REAL_PHOTOS[name][1] for name in REAL_PHOTOS])
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0 and scores["mean_iou"] >= 0.6


def test_missing_insightface_sdist_is_a_usage_error(tmp_path, monkeypatch):
    from common.errors import UsageError

    monkeypatch.setenv("DLSUITE_INSIGHTFACE_SDIST", str(tmp_path / "missing.tar.gz"))
    with pytest.raises(UsageError, match="is not a file"):
        real_photo("insightface_t1", str(tmp_path))


def test_validation_face_photos_are_shrunk_with_their_boxes():
    photos = validation_face_photos()  # fetched from PyPI (a package registry) into the session data dir
    assert len(photos) == 4
    for grey, boxes in photos:
        height, width = grey.shape
        assert max(height, width) == VALIDATION_FACE_SIDE and grey.dtype == np.float32 and len(boxes) == 1
        x0, y0, x1, y1 = boxes[0]
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height and 70 <= x1 - x0 <= 150


def test_missing_face_recognition_sdist_is_a_usage_error_and_calibration_goes_on(tmp_path, monkeypatch, capsys):
    from apps.face_detection.config import FaceDetectionConfig
    from apps.face_detection.task import FaceDetection
    from common.errors import UsageError

    monkeypatch.setenv("DLSUITE_FACE_RECOGNITION_SDIST", str(tmp_path / "missing.tar.gz"))
    with pytest.raises(UsageError, match="is not a file"):
        validation_face_photos(str(tmp_path))
    data = FaceDetection().load_data(FaceDetectionConfig(hard_negatives=4, validation_negatives=4))
    assert data.face_photos == [] and "calibrating without validation photos of faces" in capsys.readouterr().err
