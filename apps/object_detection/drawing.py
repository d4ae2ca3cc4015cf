"""Pictures of detections: a grid of scenes for plots/ and TensorBoard, and one annotated image per prediction."""

from __future__ import annotations

import numpy as np

from common.monitoring import figure_to_png, plt, write_png

COLOURS = plt.cm.tab10.colors  # one colour per class (cycled beyond ten)


def _show(ax, image: np.ndarray) -> None:
    image = np.asarray(image, np.float32)
    grey = image.shape[-1] == 1
    ax.imshow(image[..., 0] if grey else np.clip(image / 255.0, 0.0, 1.0), cmap="gray" if grey else None,
              vmin=0, vmax=255 if grey else None)
    ax.set_axis_off()


def _rectangle(ax, box, height: int, width: int, colour, dashed: bool = False):
    ymin, xmin, ymax, xmax = box * np.array([height, width, height, width])
    ax.add_patch(plt.Rectangle((xmin - 0.5, ymin - 0.5), xmax - xmin, ymax - ymin, fill=False, edgecolor=colour,
                               linewidth=1.5, linestyle="--" if dashed else "-"))
    return xmin, ymin


def _detections(ax, detections, class_names, height, width, min_score):
    for box, score, label in zip(*detections):
        if score >= min_score:
            colour = COLOURS[int(label) % len(COLOURS)]
            x, y = _rectangle(ax, box, height, width, colour)
            ax.text(x, y - 1, f"{class_names[int(label)]} {score:.2f}", color="white", fontsize=7,
                    bbox={"facecolor": colour, "edgecolor": "none", "pad": 1})


def scenes_figure(images, truth, detections, class_names: list[str], title: str, min_score: float = 0.3):
    """A grid of scenes: true boxes dashed white, detections solid in their class colour with label and score.

    Args:
        images: (H, W, C) images in 0..255.
        truth: per image, (boxes normalised, labels).
        detections: per image, (boxes normalised, scores, classes).
        class_names: names of the class indices.
        title: the figure title.
        min_score: detections below this score are not drawn.
    """
    columns = min(4, len(images))
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows + 0.4), squeeze=False)
    for ax in axes.flat[len(images):]:
        ax.set_axis_off()
    for ax, image, (boxes, _), found in zip(axes.flat, images, truth, detections):
        height, width = image.shape[:2]
        _show(ax, image)
        for box in boxes:
            _rectangle(ax, box, height, width, "white", dashed=True)
        _detections(ax, found, class_names, height, width, min_score)
    fig.suptitle(title, fontsize=9)
    return fig


def draw_boxes(image: np.ndarray, boxes, scores, classes, class_names: list[str], path: str) -> str:
    """Writes `image` with its detections drawn, as a PNG at `path`."""
    height, width = image.shape[:2]
    fig, ax = plt.subplots(figsize=(max(3.0, width / 48), max(3.0, height / 48)))
    _show(ax, image)
    _detections(ax, (boxes, scores, classes), class_names, height, width, min_score=0.0)
    return write_png(path, figure_to_png(fig))
