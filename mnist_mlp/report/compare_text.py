"""``compare``'s Markdown: the decision is data in ``mnist_mlp.compare`` (``Comparison``, ``Verdict``);
the words and tables a reader sees are written here."""

from __future__ import annotations

from typing import Any, Mapping

from tabulate import tabulate

from mnist_mlp.compare import ALPHA, FULL_RANGE_MAX_SAMPLES, MIN_RELATIVE_CHANGE, Comparison, Measure, Metric


def comparison_markdown(comparison: Comparison, chart: str | None = None) -> str:
    """``compare.md``: the runs, the metric table with each verdict's test and p-value, what differs."""
    lines = ["# Comparison of runs", ""]
    run_rows = [
        [r.label, r.run_id, r.run["created_utc"], machine_line(r.run), r.path, "; ".join(comparison.not_comparable.get(r.label, [])) or "yes"]
        for r in comparison.runs
    ]
    lines += [tabulate(run_rows, headers=["run", "run id", "created (UTC)", "machine", "file", "comparable with A"], tablefmt="github"), ""]
    if len(comparison.comparable) < 2:
        lines += ["**Not comparable**: no run can be compared with the baseline A; see the reasons above.", ""]
    else:
        lines += [
            f"Ratios are to run A. A difference counts when a two-sided test gives p < {ALPHA:g}: Welch's t-test "
            f"over seeds (effect size Cohen's d), Mann-Whitney U over more than {FULL_RANGE_MAX_SAMPLES} rounds "
            f"(effect size the Hodges-Lehmann shift), and, for times and rates, the change is at least "
            f"{MIN_RELATIVE_CHANGE:.0%} (as asv's --factor); otherwise it is within noise.",
            "",
            comparison_table(comparison),
            "",
        ]
    if comparison.missing:
        lines += ["Not in every run (shown as —):", ""] + [f"- {m}" for m in comparison.missing] + [""]
    flagged = [(label, case, flags) for label, cases in comparison.machine_flags.items() for case, flags in cases.items() if flags]
    if flagged:
        lines += ["## Measured on a machine that was not clean", "",
                  "Values marked [busy] or [unstable] were measured while other processes or the hypervisor took "
                  "CPU time, or while the device's peak moved by more than 10%: treat their differences with care.", ""]
        lines += [f"- run {label}, {case}: {'; '.join(flags)}" for label, case, flags in flagged] + [""]
    lines += ["## What differs between the runs", ""]
    if comparison.differences:
        diff_rows = [[key, *(short(v) for v in values)] for key, values in comparison.differences]
        lines.append(tabulate(diff_rows, headers=["field", *(r.label for r in comparison.runs)], tablefmt="github"))
    else:
        lines.append("Same machine and software in every run.")
    if chart:
        lines += ["", f"![comparison]({chart})"]
    return "\n".join(lines) + "\n"

def comparison_table(comparison: Comparison) -> str:
    """Per case and metric: each run's value and, against run A, its ratio, verdict, p-value and effect size."""
    used = comparison.comparable
    headers = ["case", "metric"] + [comparison.runs[used[0]].label] + [f"{comparison.runs[i].label} (vs A)" for i in used[1:]]
    body = []
    for row in comparison.rows:
        cells = [row.case, f"{row.metric.label} ({row.metric.unit})"]
        for position, index in enumerate(used):
            text = format_measure(row.metric, row.measures[index])
            if text != "—":
                text += comparison.marks(index, row.case)
            verdict = row.verdicts[index]
            if position and verdict is not None:
                ratio = "" if verdict.ratio is None else f"x{verdict.ratio:.2f}, "
                evidence = f", {verdict.describe()}" if verdict.describe() else ""
                text = f"{text} ({ratio}{verdict.label}{evidence})" if text != "—" else text
            cells.append(text)
        body.append(cells)
    return tabulate(body, headers=headers, tablefmt="github")


def format_measure(metric: Metric, measure: Measure | None) -> str:
    if measure is None or measure.value is None:
        return "—" if measure is None or not measure.note else measure.note
    scale = 100.0 if metric.kind == "accuracy" else 1.0
    value, sd = measure.value * scale, (measure.stddev or 0.0) * scale
    if metric.kind == "rate":
        text = f"{value:,.0f}" + (f" ± {sd:,.0f}" if measure.stddev else "")
    else:
        digits = 2 if metric.kind == "accuracy" or value < 100 else 1
        text = f"{value:.{digits}f}" + (f" ± {sd:.{digits}f}" if measure.stddev else "")
    return text + (f" [{measure.note}]" if measure.note else "")


def machine_line(run: Mapping[str, Any]) -> str:
    machine = run.get("machine") or {}
    cpu = (machine.get("cpu") or {}).get("model") or "?"
    gpus = ", ".join(g.get("name", "?") for g in machine.get("gpus") or [])
    return f"{machine.get('host', '?')} ({cpu}{'; ' + gpus if gpus else ''})"


def short(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
