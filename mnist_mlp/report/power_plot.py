"""The gate's power figure: detection rate against the drop in mean test accuracy, one panel per
seed count, each tested regression a point (marker by kind) and the normal model a line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_mlp.gate.power import CAUGHT, PowerReport, model_detection
from mnist_mlp.report.plots import pyplot, save_figure
from mnist_mlp.report.tables import seed_span

MARKERS = {"healthy": "o", "label_shuffle": "s", "epochs": "^", "learning_rate": "D", "hidden_units": "v"}


def plot_power(report: PowerReport, params: dict, path: str | Path) -> Path:
    plt = pyplot()
    counts = [s.n for s in report.summaries]
    fig, axes = plt.subplots(1, len(counts), figsize=(4.2 * len(counts), 3.8), sharey=True, squeeze=False)
    largest = max([r.drop for r in report.rows] + [s.model_drop_caught for s in report.summaries]) * 100
    drops = np.linspace(min(0.0, min(r.drop for r in report.rows) * 100), largest * 1.1 + 0.1, 300)
    for ax, summary in zip(axes[0], report.summaries):
        n = summary.n
        curve = model_detection(report.control_mean - drops / 100, params, n, report.alpha)
        ax.plot(drops, curve, color="0.4", lw=1.2, label="normal model")
        for kind, marker in MARKERS.items():
            points = [(r.drop * 100, r.detection[n]) for r in report.rows if r.kind == kind and n in r.detection]
            if points:
                xs, ys = zip(*points)
                ax.scatter(xs, ys, marker=marker, s=36, label=kind, zorder=3)
        ax.axhline(CAUGHT, color="tab:red", ls=":", lw=1)
        ax.set_title(f"{n} seed{'s' * (n > 1)} per run")
        ax.set_xlabel("drop in mean test accuracy (pp)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("share of runs the gate fails")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Accuracy gate power: {report.backend} CPU, seeds {seed_span(report.seeds)}", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)
