"""Tables (markdown) and plots (matplotlib) of the studies' results."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from apps.fundamentals.studies import mean_curve


def _pm(mean: float, sd: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def study_table(study: str, summaries: list[dict]) -> str:
    """One row per variant: test, validation and train accuracy (mean ± sd over seeds), their gap, cost."""
    lines = [f"### {study}", "",
             "| variant | test accuracy | validation accuracy | train accuracy | gap (train − val) | epochs "
             "| parameters | s / run | diverged |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in summaries:
        lines.append(
            f"| {s['variant']} | {_pm(s['test_accuracy'], s['test_accuracy_sd'])} "
            f"| {_pm(s['validation_accuracy'], s['validation_accuracy_sd'])} "
            f"| {_pm(s['train_accuracy'], s['train_accuracy_sd'])} | {_pm(s['gap'], s['gap_sd'])} "
            f"| {s['epochs']:.0f} | {s['parameters']:,} | {s['seconds']:.1f} | {s['diverged']}/{s['seeds']} |")
    n = summaries[0]["seeds"] if summaries else 0
    examples = summaries[0]["train_examples"] if summaries else 0
    lines += ["", f"Mean ± sd over {n} seed(s); {examples} training examples."]
    return "\n".join(lines)


def scratch_table(result: dict) -> str:
    lines = ["### scratch", "",
             "| | from scratch (GradientTape) | keras.Sequential + model.fit |", "| --- | --- | --- |",
             f"| final training loss | {result['scratch_loss'][-1]:.5f} | {result['fit_loss'][-1]:.5f} |",
             f"| test accuracy | {result['scratch_test_accuracy']:.4f} | {result['fit_test_accuracy']:.4f} |",
             f"| seconds | {result['scratch_seconds']:.1f} | {result['fit_seconds']:.1f} |", "",
             f"Same initial weights, same {result['steps']} batches ({result['optimizer']}, learning rate "
             f"{result['learning_rate']:g}): largest weight difference after training "
             f"{result['max_weight_difference']:.2e}.",
             f"Gradient check ({result['gradient_entries']} entries, float64, central differences): largest relative "
             f"error {result['gradient_max_relative_error']:.2e}, largest absolute error "
             f"{result['gradient_max_abs_error']:.2e}."]
    return "\n".join(lines)


def _bars(ax, summaries, keys, labels):
    names = [s["variant"] for s in summaries]
    width = 0.8 / len(keys)
    for k, (key, label) in enumerate(zip(keys, labels)):
        ax.bar(np.arange(len(names)) + (k - (len(keys) - 1) / 2) * width, [s[key] for s in summaries], width,
               yerr=[s[key + "_sd"] for s in summaries], capsize=3, label=label)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    low = min(s[k] for s in summaries for k in keys)
    ax.set_ylim(max(0.0, low - 0.1), 1.06)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)


def _curves(ax, summaries, records, key, ylabel, log=False):
    for s in summaries:
        curve = mean_curve(records[s["variant"]], key)
        if len(curve):
            ax.plot(np.arange(1, len(curve) + 1), curve, label=s["variant"])
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel + " (mean over seeds)")
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=7)


def _lines(ax, summaries, key, xlabel):
    for group in dict.fromkeys(s["group"] for s in summaries):
        rows = [s for s in summaries if s["group"] == group]
        ax.errorbar([s["position"] for s in rows], [s[key] for s in rows], yerr=[s[key + "_sd"] for s in rows],
                    marker="o", capsize=3, label=group)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)


def study_figure(study: str, summaries: list[dict], records: dict[str, list[dict]], dataset: str):
    """Two panels per study: the comparison of test accuracy, and the training dynamics behind it."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    if study == "activations":
        _curves(left, summaries, records, "val_accuracy", "validation accuracy")
        _bars(right, summaries, ["test_accuracy"], ["test accuracy"])
    elif study == "optimizers":
        _lines(left, summaries, "test_accuracy", "learning rate")
        left.set_ylabel("test accuracy")
        best = {}
        for s in summaries:  # each optimizer at its best learning rate (by validation accuracy)
            if s["group"] not in best or s["validation_accuracy"] > best[s["group"]]["validation_accuracy"]:
                best[s["group"]] = s
        _curves(right, list(best.values()), records, "loss", "training loss", log=True)
        right.set_title("each optimizer at its best learning rate", fontsize=9)
    elif study == "capacity":
        _lines(left, summaries, "test_accuracy", "width (units per hidden layer)")
        left.set_ylabel("test accuracy")
        _lines(right, summaries, "gap", "width (units per hidden layer)")
        right.set_ylabel("train − validation accuracy")
    else:  # regularization
        _bars(left, summaries, ["train_accuracy", "validation_accuracy", "test_accuracy"],
              ["train", "validation", "test"])
        for i, s in enumerate(summaries):  # the train - validation gap, written over each group of bars
            left.annotate(f"gap {s['gap']:.3f}", (i, 1.0), xytext=(0, 2), textcoords="offset points", ha="center",
                          fontsize=8, annotation_clip=False)
        _curves(right, summaries, records, "val_loss", "validation loss", log=True)
    n = summaries[0]["seeds"]
    fig.suptitle(f"{study} on {dataset} ({summaries[0]['train_examples']} training examples, {n} seed(s), mean ± sd)")
    fig.tight_layout()
    return fig


def scratch_figure(result: dict, dataset: str):
    """Left: the loss per epoch of the from-scratch loop and of model.fit; right: the tape's gradients against
    finite differences."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    epochs = np.arange(1, len(result["scratch_loss"]) + 1)
    left.plot(epochs, result["scratch_loss"], "o-", label="from scratch (GradientTape)")
    left.plot(epochs, result["fit_loss"], "x--", label="keras.Sequential + model.fit")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    left.set_yscale("log")
    left.legend()
    left.set_title(f"max |Δweight| after training: {result['max_weight_difference']:.1e}", fontsize=9)
    analytic, numeric = np.array(result["gradient_analytic"]), np.array(result["gradient_numeric"])
    right.scatter(numeric, analytic, s=12)
    lim = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-12) * 1.1
    right.plot([-lim, lim], [-lim, lim], "k:", linewidth=1)
    right.set_xlabel("finite difference")
    right.set_ylabel("GradientTape")
    right.set_title(f"gradient check: max relative error {result['gradient_max_relative_error']:.1e}", fontsize=9)
    fig.suptitle(f"a dense network written with keras.ops on {dataset}")
    fig.tight_layout()
    return fig
