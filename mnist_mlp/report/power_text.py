"""The gate's power study as Markdown: the numbers are data in ``mnist_mlp.gate.power``
(``PowerReport``); the tables a reader sees (``power.md``) are written here."""

from __future__ import annotations

import math

from tabulate import tabulate

from mnist_mlp.gate.power import PowerReport
from mnist_mlp.report.tables import seed_span


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * 100:.{digits}f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def rows_table(report: PowerReport) -> str:
    counts = [s.n for s in report.summaries]
    headers = ["regression", "strength", "mean %", "sd %", "drop pp"] + [f"caught, {n} seed{'s' * (n > 1)}" for n in counts]
    body = [
        [row.kind, "-" if row.strength is None else f"{row.strength:g}", _pct(row.mean), _pct(row.stddev),
         _pct(row.drop)] + [_rate(row.detection.get(n)) for n in counts]
        for row in report.rows
    ]
    return tabulate(body, headers, tablefmt="github", disable_numparse=True)


def summary_table(report: PowerReport) -> str:
    headers = ["seeds per run", "mean threshold %", "seed floor %", "healthy failed (false alarms)",
               "smallest tested drop caught >= 95%", "largest tested drop caught < 95%",
               "drop caught 95%, normal model"]
    body = []
    for s in report.summaries:
        measured = "none tested" if s.measured_drop_caught is None else f"{_pct(s.measured_drop_caught)} pp ({s.measured_by})"
        missed = "none tested" if s.missed_drop is None else f"{_pct(s.missed_drop)} pp ({s.missed_by}: {_rate(s.missed_rate)})"
        body.append([s.n, _pct(s.mean_threshold), _pct(s.seed_floor), _rate(s.false_alarm), measured, missed,
                     f"{_pct(s.model_drop_caught)} pp"])
    return tabulate(body, headers, tablefmt="github", disable_numparse=True)


def power_markdown(report: PowerReport, command: str, figure: str | None = None) -> str:
    cpu = (report.machine.get("cpu") or {}).get("model") or "?"
    seeds = report.seeds
    lines = [
        "# The accuracy gate's power",
        "",
        f"Made by `{command}` from `accuracies.json` beside this file: {report.backend} on the CPU "
        f"({cpu}, host {report.machine.get('host', '?')}), seeds {seed_span(seeds)} ({len(seeds)} per row), "
        "each regression trained through the same `train.train` the harness times.",
        "",
        f"Gate: thresholds `{report.thresholds_key}` of {report.thresholds_label} (sigma "
        f"{report.sigma * 100:.3f}%, alpha {report.alpha:.0%}), one backend x device per run (G = 1). "
        "A row's *caught* figure is the share of its C(K, n) subsets of n seeds that `gate.check_run` fails; "
        "for the healthy control that share is the false-alarm rate. *Drop* is the healthy control's mean "
        f"({report.control_mean:.2%}) minus the row's mean, on the same seeds.",
        "",
        summary_table(report),
        "",
        "The measured drop caught 95% of the time lies between the two tested drops either side of it "
        "(the largest caught less often, the smallest caught at least that often; a regression that widens "
        "the spread can be caught at a smaller drop than one that does not). *Normal model*: the drop (from the control's mean) at which the gate fails 95% of runs "
        "whose seeds are normal with the calibration's sigma; a regression that also widens the spread is "
        "caught at smaller drops than that.",
        "",
        rows_table(report),
    ]
    if figure:
        lines += ["", f"![detection rate against the drop in mean test accuracy]({figure})"]
    return "\n".join(lines) + "\n"
