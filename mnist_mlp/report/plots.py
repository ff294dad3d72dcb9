"""Matplotlib figures, one function per figure, drawn headless (Agg) and saved atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from mnist_mlp import atomic


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, chosen before pyplot is first imported."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` as PNG through a temporary file, then close it."""
    plt = pyplot()
    try:
        fig.tight_layout()
        return atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    finally:
        plt.close(fig)


def plot_training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path) -> Path:
    """The seed's two panels, loss and accuracy per epoch, train (solid) against validation (dashed).

    ``histories`` maps a label (a backend, a seed) to a Keras-style history dict.
    """
    plt = pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, history) in enumerate(histories.items()):
        color = colors[index % len(colors)]
        epochs = range(1, len(history.get("loss", [])) + 1)
        for ax, key in ((loss_ax, "loss"), (acc_ax, "accuracy")):
            ax.plot(epochs, history.get(key, []), color=color, label=f"{label} train")
            ax.plot(epochs, history.get(f"val_{key}", []), color=color, linestyle="--", label=f"{label} validation")
    for ax, title in ((loss_ax, "Loss"), (acc_ax, "Accuracy")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    loss_ax.set_ylabel("sparse categorical cross-entropy")
    acc_ax.set_ylabel("accuracy")
    return save_figure(fig, path)


def plot_throughput(
    series: Mapping[str, Sequence[tuple[int, float]]], peaks: Mapping[str, float], path: str | Path,
) -> Path:
    """Samples per second against batch size, log-log, one line per case and path.

    ``series`` maps a label (``jax-cpu predict``) to (batch size, samples/s) points; ``peaks``
    maps a label to the samples/s the measured matmul peak would allow, drawn as horizontal lines
    so the distance to the hardware's ceiling is visible at a glance.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    styles = {"predict": "-", "direct": "--", "numpy": ":"}
    for label, points in series.items():
        points = sorted(points)
        if not points:
            continue
        style = next((s for key, s in styles.items() if label.endswith(key)), "-")
        ax.plot([b for b, _ in points], [v for _, v in points], marker="o", linestyle=style, label=label)
    for index, (label, value) in enumerate(peaks.items()):
        ax.axhline(value, color="black", linestyle=(0, (1, 2 + index)), linewidth=1, label=f"peak: {label}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("samples per second")
    ax.set_title("Inference throughput (forward pass, 209,536 FLOPs per sample)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="best")
    return save_figure(fig, path)


def plot_training_time(times: Mapping[str, Sequence[float]], path: str | Path, first_epoch: Mapping[str, float] | None = None) -> Path:
    """Training wall seconds per case: the mean as a bar, the seeds as dots, min-max as error bars.

    With one seed there is no spread to draw, only the single value. ``first_epoch`` (mean first-
    epoch seconds per case, tracing included) is drawn as the bar's darker lower part.
    """
    import statistics

    plt = pyplot()
    labels = [label for label, values in times.items() if values]
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(labels) + 2), 4.5))
    means = [statistics.fmean(times[label]) for label in labels]
    lows = [mean - min(times[label]) for label, mean in zip(labels, means)]
    highs = [max(times[label]) - mean for label, mean in zip(labels, means)]
    positions = range(len(labels))
    ax.bar(positions, means, yerr=[lows, highs], capsize=6, color="#9aa7b8", label="wall time (mean, min-max)")
    if first_epoch:
        ax.bar(positions, [first_epoch.get(label, 0.0) for label in labels], color="#5b6b80", label="first epoch (tracing)")
    for position, label in zip(positions, labels):
        ax.scatter([position] * len(times[label]), times[label], color="#d1495b", zorder=3, s=14)
        ax.annotate(f"{statistics.fmean(times[label]):.1f} s", (position, max(times[label])), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize="small")
    ax.set_xticks(list(positions))
    ax.set_xticklabels(labels)
    ax.set_ylabel("seconds")
    ax.set_title("Training time per backend (dots: seeds)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_confusion_matrices(matrices: Mapping[str, Sequence[Sequence[int]]], path: str | Path) -> Path:
    """The test-set confusion matrix of each case's seed-0 model, side by side."""
    import numpy as np

    plt = pyplot()
    count = max(1, len(matrices))
    fig, axes = plt.subplots(1, count, figsize=(4.4 * count, 4.2), squeeze=False)
    for ax, (label, matrix) in zip(axes[0], matrices.items()):
        values = np.asarray(matrix, dtype=int)
        ax.imshow(values, cmap="Blues")
        threshold = values.max() / 2 if values.size else 0
        for (row, col), value in np.ndenumerate(values):
            ax.text(col, row, str(value), ha="center", va="center", fontsize=6,
                    color="white" if value > threshold else "black")
        accuracy = np.trace(values) / values.sum() if values.sum() else float("nan")
        ax.set_title(f"{label} (accuracy {accuracy:.2%})", fontsize="small")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(values.shape[1]))
        ax.set_yticks(range(values.shape[0]))
    return save_figure(fig, path)


def plot_scaling(series: Mapping[str, Sequence[tuple[int, float]]], path: str | Path, *, simulated: bool = False) -> Path:
    """Training samples/s against N devices per backend, with the ideal line from each one-device point."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in sorted(series.items()):
        points = sorted(points)
        ns = [n for n, _ in points]
        line = ax.plot(ns, [v for _, v in points], marker="o", label=label)[0]
        one = dict(points).get(1)
        if one:
            ax.plot(ns, [one * n for n in ns], linestyle="--", color=line.get_color(), alpha=0.5)
    ax.set_xlabel("devices N")
    ax.set_ylabel("training samples/s")
    ax.set_xticks(sorted({n for points in series.values() for n, _ in points}))
    title = "Data-parallel scaling"
    if simulated:
        title += "\n(simulated devices: correctness, not speed)"
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def plot_prediction(image: Any, prediction: Any, path: str | Path) -> Path:
    """The image with its predicted digit beside a bar chart of the ten probabilities (``predict.Prediction``)."""
    import numpy as np

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.2), gridspec_kw={"width_ratios": [1, 1.6]})
    left.imshow(np.asarray(image).reshape(28, 28), cmap="gray", vmin=0, vmax=1 if np.asarray(image).dtype.kind == "f" else 255)
    left.set_title(f"predicted: {prediction.digit}")
    left.axis("off")
    bars = right.bar(range(10), prediction.probabilities, color="#9aa7b8")
    bars[prediction.digit].set_color("#d1495b")
    right.set_xticks(range(10))
    right.set_ylim(0, 1)
    right.set_xlabel("digit")
    right.set_ylabel("probability")
    right.set_title(f"confidence {prediction.confidence:.1%}")
    return save_figure(fig, path)

