"""The accuracy gate's Markdown: the decision is data in ``mnist_mlp.gate.check`` (``GateReport``); the
words and the table a reader sees (``gate.md``) are written here."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from mnist_mlp import atomic
from mnist_mlp.gate.check import GateReport

GATE_FILE = "gate.md"


def write_gate_file(report: GateReport, run_path: str | Path) -> Path:
    """Write ``gate.md`` into the run folder (``run_path``: the folder or its results.json)."""
    run_path = Path(run_path)
    run_dir = run_path if run_path.is_dir() else run_path.parent
    return atomic.write_text(run_dir / GATE_FILE, gate_markdown(report))


def gate_markdown(report: GateReport) -> str:
    """``gate.md``: the verdict, the thresholds file, the table, the failures and notes."""
    verdict = "PASSED" if report.passed else "FAILED"
    if report.nothing_to_gate:
        return "# Accuracy gate: nothing to gate\n\n" + "".join(f"- {n}\n" for n in report.notes)
    label = report.thresholds_label + (" (PROVISIONAL)" if report.provisional and "provisional" not in report.thresholds_label.lower() else "")
    lines = [
        f"# Accuracy gate: {verdict}",
        "",
        f"Thresholds: `{report.thresholds_file}`, {label}; a healthy run fails at most "
        f"{report.alpha:.0%} of the time. The seed notebook's figure, {report.seed_figure:.1%}, is shown "
        "for reference: it sits at the top of a healthy run's spread and is not the threshold.",
        "",
        gate_table(report),
    ]
    if report.failures:
        lines += ["", "Failures:", ""] + [f"- {f}" for f in report.failures]
    notes = report.notes + [f"{g.key}: {n}" for g in report.groups for n in g.notes]
    notes += [f"{case}: not checked ({why})" for case, why in report.not_checked.items()]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"

def gate_table(report: GateReport) -> str:
    """Per backend x device: seeds, their accuracies, mean, thresholds, the seed figure, pass or FAIL."""
    rows = [
        [
            g.key,
            len(g.seeds),
            ", ".join(_pct(s.test_accuracy) for s in g.seeds),
            _pct(g.mean),
            _pct(g.mean_threshold),
            _pct(g.seed_floor),
            _pct(report.seed_figure),
            "pass" if g.passed else "FAIL",
        ]
        for g in report.groups
    ]
    headers = ["backend-device", "seeds", "test accuracy per seed", "mean", "mean threshold", "seed floor", "seed figure", "gate"]
    return tabulate(rows, headers=headers, tablefmt="github")


def _pct(value: float | None) -> str:
    return "NaN/missing" if value is None else f"{value:.2%}"
