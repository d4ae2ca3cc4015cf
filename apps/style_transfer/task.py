"""Style transfer: per-image optimisation and a fast feed-forward network trained for one style, on the same
perceptual loss, against two classical baselines (the content image itself, per-channel colour transfer)."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import tensorflow as tf

from apps.style_transfer.config import StyleTransferConfig
from apps.style_transfer.images import (
    color_transfer,
    load_image,
    random_crops,
    training_images,
    write_image,
)
from apps.style_transfer.model import PerceptualLoss, build_extractor, build_fast_network
from apps.style_transfer.spec import SPEC
from apps.style_transfer.stylize import LOSS_NAMES, FastTrainer, optimize_image, score_images, stylize
from common.errors import UsageError
from common.export import atomic_write_json, atomic_write_text, save_model
from common.monitoring import figure_to_png, log_images, log_marks, rewind_logs, write_png
from common.task import Task


def image_name(spec: str) -> str:
    """A file-name-safe short name of an image spec (a scikit-image name or a path)."""
    stem = os.path.splitext(os.path.basename(spec.rstrip("/\\")))[0] or "image"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)


def build_loss(cfg: StyleTransferConfig, style: str | None = None) -> PerceptualLoss:
    """The config's perceptual loss: its extractor (`weights`) and style image (or `style`)."""
    style_image = load_image(style or cfg.style, cfg.image_size)  # a bad style image fails before any model builds
    extractor = build_extractor(cfg.weights, cfg.extractor_widths, cfg.extractor_seed, cfg.content_stage)
    return PerceptualLoss(extractor, style_image, cfg.content_weight, cfg.style_weight, cfg.tv_weight)


def write_losses_csv(path: str, history: list[dict]) -> None:
    """The losses after each optimisation step, one row per step (0 = the start)."""
    lines = [",".join(("step",) + LOSS_NAMES)]
    lines += [",".join([str(step)] + [f"{values[name]:.6g}" for name in LOSS_NAMES])
              for step, values in enumerate(history)]
    atomic_write_text(path, "\n".join(lines) + "\n")


class _Scalars:
    """TensorBoard scalars (the losses) and uint8 images of one part of the run, under `logs/<part>`."""

    def __init__(self, log_dir: str, part: str):
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, part))

    def losses(self, step: int, values: dict) -> None:
        with self.writer.as_default():
            for name in LOSS_NAMES:
                tf.summary.scalar(f"{name}_loss", values[name], step=step)

    def images(self, step: int, images: dict) -> None:
        with self.writer.as_default():
            for name, image in images.items():
                tf.summary.image(name, np.clip(np.rint(image), 0, 255).astype(np.uint8)[None], step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class StyleTransfer(Task):
    spec = SPEC  # name, description, config, models, actions: what the CLI shows without TensorFlow
    name = SPEC.name
    config_class = SPEC.config_class
    primary_metric = ("total_loss", "lower", ".4f")
    trains_with_fit = False

    # --- data and evaluation (`evaluate --run DIR` uses them; training has its own loop) -----------
    def load_data(self, cfg: StyleTransferConfig) -> dict:
        """The held-out test images (float 0..255 at the working size), by name."""
        return {image_name(spec): load_image(spec, cfg.image_size) for spec in cfg.test_images}

    def build_inputs(self, cfg, data) -> dict:
        return {}

    def evaluate(self, model, cfg: StyleTransferConfig, data: dict, inputs=None) -> dict:
        """The fast network's mean content, style, TV and total loss on the test images (run's extractor)."""
        return {f"{name}_loss": value for name, value in self._score_fast(model, build_loss(cfg), data)[0].items()}

    @staticmethod
    def _score_fast(model, loss, tests: dict):
        """(mean losses, stylised images, seconds per image) of the fast network on `tests`."""
        contents = list(tests.values())
        outputs, seconds = zip(*(stylize(model, image) for image in contents))
        return score_images(loss, list(outputs), contents), list(outputs), list(seconds)

    # --- the run ------------------------------------------------------------------------------
    def train_loop(self, cfg: StyleTransferConfig, run, verbose) -> dict:
        """The optimisation method on `content`, then the fast network for `style` (resumable per epoch), then
        both scored on the same extractor; see the package docstring for what is written where."""
        if cfg.train_size > cfg.image_size:
            raise UsageError(f"train_size={cfg.train_size} is larger than image_size={cfg.image_size}: crops are cut "
                             "from images of that size")
        loss = build_loss(cfg)
        content = load_image(cfg.content, cfg.image_size)
        tests = self.load_data(cfg)
        photos, photo_names = training_images(cfg.dataset, cfg.image_size)
        style = load_image(cfg.style, cfg.image_size)
        say = print if verbose != 0 else (lambda *a, **k: None)
        say(f"extractor {loss.extractor.name}, style {cfg.style}, content {cfg.content}, "
            f"{len(photos)} training photos, test images {', '.join(tests)}", flush=True)

        optimized, history, optimize_seconds = self._optimization(cfg, run, loss, content, say)
        model, fast_seconds, epochs = self._fast_network(cfg, run, loss, photos, tests, say)

        # Scores, all on the same extractor and loss.
        contents = list(tests.values())
        fast, outputs, seconds = self._score_fast(model, loss, tests)
        fast_on_content = score_images(loss, [stylize(model, content)[0]], [content])
        test = {f"{name}_loss": fast[name] for name in LOSS_NAMES}
        test["seconds_per_image"] = float(np.median(seconds))
        for when, values in (("start", history[0]), ("end", history[-1])):
            test.update({f"optimize_{name}_{when}": values[name] for name in LOSS_NAMES})
        test["optimize_seconds"] = optimize_seconds
        test.update({f"fast_on_content_{name}": fast_on_content[name] for name in LOSS_NAMES})
        transfers = [color_transfer(image, style) for image in contents]
        baselines = {"content_copy": score_images(loss, contents, contents),
                     "color_transfer": score_images(loss, transfers, contents)}
        baselines = {name: {f"{k}_loss": v for k, v in values.items()} for name, values in baselines.items()}

        # Images: files, one comparison figure (also in TensorBoard).
        images_dir = os.path.join(run.root, "images")
        for (name, image), output, transfer in zip(tests.items(), outputs, transfers):
            write_image(os.path.join(images_dir, f"fast_{name}.png"), output)
            write_image(os.path.join(images_dir, f"color_transfer_{name}.png"), transfer)
        figure = self._comparison_figure(cfg, content, style, optimized, tests, outputs)
        png = figure_to_png(figure)
        write_png(os.path.join(run.plots, "comparison.png"), png)
        rewind_logs(os.path.join(run.logs, "test"), None)  # once, even where a killed run had written it
        log_images(run.logs, {"comparison": png}, step=epochs, split="test")
        save_model(model, run.model)
        shutil.rmtree(run.checkpoints, ignore_errors=True)
        return {
            "test": test,
            "baselines": baselines,
            "epochs": epochs,
            "parameters": model.count_params(),
            "examples_per_second": round(cfg.batch_size * cfg.steps_per_epoch * epochs / fast_seconds, 2)
            if fast_seconds else 0.0,
            "data": {"style": cfg.style, "content": cfg.content, "extractor": loss.extractor.name,
                     "image_size": cfg.image_size, "training_images": photo_names, "test_images": list(tests)},
        }

    def _optimization(self, cfg, run, loss, content, say):
        """The optimisation method on the content image, or its saved result when a rerun resumes."""
        saved = os.path.join(run.checkpoints, "optimized.npz")
        if os.path.isfile(saved):
            with np.load(saved) as state:
                say("optimisation: already done (resumed)", flush=True)
                return state["image"], json.loads(str(state["history"])), float(state["seconds"])
        rewind_logs(os.path.join(run.logs, "optimize"), None)  # an interrupted attempt's partial curves
        board = _Scalars(run.logs, "optimize")
        name = image_name(cfg.content)

        def on_step(step, values):
            if step % cfg.log_every == 0 or step == cfg.steps:
                board.losses(step, values)
            if step % (10 * cfg.log_every) == 0 or step == cfg.steps:
                say(f"optimisation step {step}/{cfg.steps}: " + "  ".join(f"{k}={v:.4g}" for k, v in values.items()),
                    flush=True)

        start = time.perf_counter()
        image, history = optimize_image(loss, content, steps=cfg.steps, learning_rate=cfg.optimize_learning_rate,
                                        on_step=on_step, image_every=10 * cfg.log_every,
                                        on_image=lambda step, img: board.images(step, {f"optimized_{name}": img}))
        seconds = time.perf_counter() - start
        board.close()
        write_losses_csv(os.path.join(run.root, "optimize_losses.csv"), history)
        write_image(os.path.join(run.root, "images", f"optimized_{name}.png"), image)
        os.makedirs(run.checkpoints, exist_ok=True)
        tmp = os.path.join(run.checkpoints, ".tmp-optimized.npz")
        np.savez(tmp, image=image, history=json.dumps(history), seconds=seconds)
        os.replace(tmp, saved)
        return image, history, seconds

    def _fast_network(self, cfg, run, loss, photos, tests, say):
        """Trains the fast network epoch by epoch; its weights and optimizer state are saved after each epoch,
        so a rerun goes on from the last finished one. Returns (model, training seconds, epochs)."""
        model = build_fast_network(cfg.width, cfg.residual_blocks)
        trainer = FastTrainer(model, loss, cfg.learning_rate)
        state_path = os.path.join(run.checkpoints, "fast_state.json")
        weights_path = os.path.join(run.checkpoints, "fast.weights.h5")
        optimizer_path = os.path.join(run.checkpoints, "fast_optimizer.npz")
        log_dir = os.path.join(run.logs, "train")
        first, seconds, state = 0, 0.0, {"logs": None}
        if os.path.isfile(state_path) and os.path.isfile(weights_path) and os.path.isfile(optimizer_path):
            with open(state_path, encoding="utf-8") as fh:
                state = json.load(fh)
            first, seconds = int(state["epoch"]), float(state["seconds"])
            model.load_weights(weights_path)
            with np.load(optimizer_path) as values:
                trainer.set_optimizer_state([values[f"v{i}"] for i in range(len(values.files))])
            say(f"fast network: resuming after epoch {first}", flush=True)
        if "logs" in state:  # (a state saved by an older version has no marks: its logs stay as they are)
            rewind_logs(log_dir, state["logs"])  # the steps a killed run logged after its last finished epoch go
        board = _Scalars(run.logs, "train")
        preview_name, preview = next(iter(tests.items()))
        for epoch in range(first, cfg.epochs):
            rng = np.random.default_rng([cfg.seed, epoch])  # the same crops whether or not the run was resumed
            start = time.perf_counter()
            sums = dict.fromkeys(LOSS_NAMES, 0.0)
            for step in range(cfg.steps_per_epoch):
                values = trainer.train_step(random_crops(photos, cfg.train_size, cfg.batch_size, rng))
                board.losses(epoch * cfg.steps_per_epoch + step, values)
                sums = {k: sums[k] + values[k] for k in LOSS_NAMES}
            seconds += time.perf_counter() - start
            means = {k: v / cfg.steps_per_epoch for k, v in sums.items()}
            say(f"fast network epoch {epoch + 1}/{cfg.epochs}: " + "  ".join(f"{k}={v:.4g}" for k, v in means.items()),
                flush=True)
            if cfg.image_summary_every and (epoch + 1) % cfg.image_summary_every == 0 or epoch + 1 == cfg.epochs:
                board.images((epoch + 1) * cfg.steps_per_epoch, {f"fast_{preview_name}": stylize(model, preview)[0]})
            board.writer.flush()
            self._save_fast_state(run, trainer, epoch + 1, seconds, state_path, weights_path, optimizer_path,
                                  log_marks(log_dir))
        board.close()
        return model, seconds, cfg.epochs

    @staticmethod
    def _save_fast_state(run, trainer, epoch, seconds, state_path, weights_path, optimizer_path, logs) -> None:
        os.makedirs(run.checkpoints, exist_ok=True)
        tmp_weights = weights_path[: -len(".weights.h5")] + ".partial.weights.h5"
        trainer.model.save_weights(tmp_weights)
        tmp_optimizer = os.path.join(run.checkpoints, ".tmp-fast_optimizer.npz")
        np.savez(tmp_optimizer, **{f"v{i}": v for i, v in enumerate(trainer.optimizer_state())})
        os.replace(tmp_weights, weights_path)
        os.replace(tmp_optimizer, optimizer_path)
        atomic_write_json(state_path, {"epoch": epoch, "seconds": seconds, "logs": logs})  # last: vouches for the two

    @staticmethod
    def _comparison_figure(cfg, content, style, optimized, tests, outputs):
        import matplotlib.pyplot as plt

        rows = [("content", content), ("style", style), ("optimisation", optimized)]
        rows += [(f"fast: {name}", output) for name, output in zip(tests, outputs)]
        fig, axes = plt.subplots(1, len(rows), figsize=(3 * len(rows), 3.3))
        for ax, (title, image) in zip(np.atleast_1d(axes), rows):
            ax.imshow(np.clip(np.rint(image), 0, 255).astype(np.uint8))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        fig.suptitle(f"{cfg.content} in the style of {cfg.style} ({cfg.weights} extractor)", fontsize=10)
        return fig

    # --- serving ------------------------------------------------------------------------------
    def serving_outputs(self, cfg, outputs, summary: dict):
        """The exported fast network (images in pixel range, any size) returns the stylised `image`s, 0..255."""
        return {"image": outputs}

    def predict(self, model, cfg: StyleTransferConfig, summary: dict, inputs: list[str]) -> list[dict]:
        """Stylises each image (a path or a scikit-image name) with the run's fast network; writes
        RUN/predictions/NAME_stylized.png and reports its losses on the run's extractor."""
        if not inputs:
            raise UsageError("predict needs images: dlsuite style_transfer predict --run DIR photo.jpg [...]")
        images = [load_image(spec, cfg.image_size) for spec in inputs]  # every input checked before any work
        loss = build_loss(cfg)
        records = []
        for spec, image in zip(inputs, images):
            output, seconds = stylize(model, image)
            path = write_image(os.path.join(summary.get("run_dir", "."), "predictions",
                                            f"{image_name(spec)}_stylized.png"), output)
            scores = score_images(loss, [output], [image])
            records.append({"input": spec, "output": path, "seconds": round(seconds, 3),
                            **{f"{k}_loss": round(v, 5) for k, v in scores.items()}})
        return records

    def run_action(self, name: str, model, cfg: StyleTransferConfig, summary: dict, args) -> str:
        """`stylize`: optimises the content image for the style; returns the losses at the start and the end."""
        steps = cfg.steps if args.steps is None else args.steps
        if steps < 1:
            raise UsageError(f"--steps {steps} must be >= 1")
        content_spec, style_spec = args.content or cfg.content, args.style or cfg.style
        output = args.output or os.path.join(summary.get("run_dir", "."), "stylized",
                                             f"{image_name(content_spec)}-{image_name(style_spec)}.png")
        if not output.lower().endswith(".png"):
            raise UsageError(f"--output {output} must be a .png file")
        content = load_image(content_spec, cfg.image_size)
        loss = build_loss(cfg, style_spec)
        image, history = optimize_image(loss, content, steps=steps, learning_rate=cfg.optimize_learning_rate)
        write_image(output, image)
        write_losses_csv(output[:-4] + ".csv", history)
        lines = [f"{content_spec} in the style of {style_spec}, {steps} steps on the {loss.extractor.name} extractor"]
        for label, values in (("start", history[0]), ("end", history[-1])):
            lines.append(f"  {label:5s} " + "  ".join(f"{k}={v:.4g}" for k, v in values.items()))
        lines.append(f"written to {output} (losses per step: {output[:-4]}.csv)")
        return "\n".join(lines)

    # --- benchmark ----------------------------------------------------------------------------
    def benchmark_summary(self, results: list[dict]) -> list:
        """Comparisons without a target (the issue sets none): fast network vs the baselines on held-out images,
        and vs the optimisation method on the content image."""
        rows = []
        for result in results:
            m = result["metrics"]
            test, base = m["test"], m["baselines"]
            best = min(base, key=lambda k: base[k]["total_loss"])
            rows.append((f"{result['name']}: fast network vs best baseline ({best}), total loss on held-out images",
                         None, f"{test['total_loss']:.4f} vs {base[best]['total_loss']:.4f}"))
            rows.append((f"{result['name']}: optimisation ({m['config']['steps']} steps) vs fast network on "
                         f"{m['config']['content']}", None,
                         f"total loss {test['optimize_total_end']:.4f} vs {test['fast_on_content_total']:.4f} "
                         f"(start {test['optimize_total_start']:.4f}); {test['optimize_seconds']:.1f} s vs "
                         f"{test['seconds_per_image']:.2f} s"))
        return rows
