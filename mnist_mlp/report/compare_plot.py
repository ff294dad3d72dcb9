"""The comparison chart: grouped bars, one group per backend x device, one bar per run.

Panels: training wall time, test accuracy, and inference throughput at the largest batch size
that every compared run measured (the "direct" path if present, else "predict"), each with the
samples' standard deviation as error bars. Panels without data are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnist_mlp.compare import Comparison
from mnist_mlp.report.plots import pyplot, save_figure


def _panel_metrics(comparison: Comparison) -> list[tuple[str, str, float]]:
    """(metric key, axis label, scale) for each panel that has data."""
    keys = {row.metric.key for row in comparison.rows}
    panels = [(k, label, scale) for k, label, scale in (
        ("training.wall_seconds.cold", "training wall time, cold (s)", 1.0),
        ("training.wall_seconds.warm", "training wall time, warm (s)", 1.0),
        ("training.test_accuracy", "test accuracy (%)", 100.0),
    ) if k in keys]
    used = comparison.comparable
    for path in ("direct", "predict", "numpy"):
        sizes = sorted(
            {
                row.metric.key.rsplit(".", 1)[1]
                for row in comparison.rows
                if row.metric.key.startswith(f"inference.{path}.")
                and all(row.measures[i] is not None for i in used)  # measured by every compared run
            },
            key=int,
        )
        if sizes:
            panels.append((f"inference.{path}.{sizes[-1]}", f"samples/s, {path}, batch {sizes[-1]}", 1.0))
            break
    return panels


def plot_comparison(comparison: Comparison, path: str | Path) -> Path | None:
    """Draw the chart into ``path``; None when there is nothing comparable to draw."""
    used = comparison.comparable
    panels = _panel_metrics(comparison)
    if len(used) < 2 or not panels:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    width = 0.8 / len(used)
    for ax, (key, label, scale) in zip(axes[0], panels):
        rows = [row for row in comparison.rows if row.metric.key == key]
        cases = [row.case for row in rows]
        for slot, index in enumerate(used):
            values, errors = [], []
            for row in rows:
                measure = row.measures[index]
                values.append((measure.value or 0.0) * scale if measure else 0.0)
                errors.append((measure.stddev or 0.0) * scale if measure else 0.0)
            positions = [c + (slot - (len(used) - 1) / 2) * width for c in range(len(cases))]
            run = comparison.runs[index]
            ax.bar(positions, values, width, yerr=errors, capsize=3, label=f"{run.label}: {run.run_id}")
        ax.set_xticks(range(len(cases)), cases, rotation=20)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
        if key == "training.test_accuracy":
            _zoom_accuracy(ax, rows, used, scale)
    axes[0][0].legend(fontsize="small")
    fig.suptitle("Runs compared (error bars: one standard deviation of the seeds or rounds)")
    return save_figure(fig, path)


def _zoom_accuracy(ax: Any, rows: list, used: list[int], scale: float) -> None:
    """Accuracies sit within a point of each other: show the band, not 0-100%."""
    values = [row.measures[i].value * scale for row in rows for i in used if row.measures[i] and row.measures[i].value]
    if values:
        ax.set_ylim(max(0.0, min(values) - 1.0), min(100.0, max(values) + 0.5))
