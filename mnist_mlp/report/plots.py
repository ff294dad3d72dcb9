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
