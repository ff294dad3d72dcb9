"""``compare``'s Markdown: the decision is data in ``mnist_mlp.compare`` (``Comparison``, ``Verdict``);
the words and tables a reader sees are written here."""

from __future__ import annotations

from typing import Any, Mapping

from tabulate import tabulate

from mnist_mlp.compare import ALPHA, MACHINE_METRIC, MIN_RELATIVE_CHANGE, Comparison, Measure, Metric, Verdict, speedup


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
            f"Ratios are to run A. Cold (seed 0, the first in its process) is compared with cold and warm (the later "
            f"seeds) with warm, never averaged. Where both sides ran the case as repeats (bench --repeats N, each a "
            f"fresh process), Welch's t-test on the log scale judges a difference (effect size Cohen's d); where one "
            f"side did, the other side's single value is judged against the repeats' prediction interval; accuracy "
            f"over two or more seeds a side by Welch's t-test over seeds. Where both sides are one process (rounds "
            f"and the seeds' times inside one process share its machine state: they are no sample of the next run), "
            f"the ratio is judged against the measured run-to-run noise band, only where the band measured that case "
            f"on both runs' machine (host and CPU) and workload; otherwise the row says \"not tested\" and why. All "
            f"p-values of a comparison are adjusted together (Benjamini-Hochberg, false discovery rate {ALPHA:g}): a "
            f"difference counts when q < {ALPHA:g} and, for times and rates, the change is at least "
            f"{MIN_RELATIVE_CHANGE:.0%} (as asv's --factor). \"machine\" is the ratio of the speeds of the probe that "
            f"bounds the figure, measured by each case before and after it: the FP32 matmul peak for throughput at "
            f"batches of 1,024 and more, the latency probe (the framework's tiny-op round trip) for training steps, "
            f"smaller batches and batch-1 latency; \"per unit of\" that probe is the ratio with that speed taken out.",
            "",
            f"Single-value rows judged by: {comparison.band}.",
            "",
            *summary_lines(comparison),
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
    given = [(label, case, text) for label, cases in comparison.given_peaks.items() for case, text in cases.items()]
    if given:
        lines += ["## Peaks given, not measured", "",
                  "These cases' peaks were typed in, so their machine ratio and per-unit-of-peak figures say nothing "
                  "about the machine:", ""]
        lines += [f"- run {label}, {case}: {text}" for label, case, text in given] + [""]
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
            if position and verdict is not None and text != "—":
                text = f"{text} ({verdict_text(row.metric, verdict)})"
            cells.append(text)
        body.append(cells)
    return tabulate(body, headers=headers, tablefmt="github")


def verdict_text(metric: Metric, verdict: Verdict) -> str:
    """``x2.07 faster, p=…, q=…; machine x2.06 (latency probe); per unit of latency probe x1.00, within noise``.

    Times and rates read as speed ratios (B's speed over A's, above 1 is faster), so the machine's
    ratio (its peak) and the per-peak one can be read against the absolute one directly."""
    if metric.kind == MACHINE_METRIC.kind:
        return f"x{verdict.ratio:.2f}, {verdict.label}: {verdict.why_untested}"
    times = speedup(verdict.ratio, metric.kind)
    if times is not None and verdict.significant:
        head = f"x{times:.2f} {verdict.label}" if times >= 1 else f"x{1 / times:.2f} {verdict.label}"
    elif times is not None:
        head = f"speed x{times:.2f}, {verdict.label}"
    elif verdict.ratio is not None:
        head = f"x{verdict.ratio:.2f}, {verdict.label}"
    else:
        head = verdict.label
    evidence = verdict.describe()
    text = head + (f", {evidence}" if evidence else "")
    scaled = speedup(verdict.per_peak_ratio, metric.kind)
    if verdict.machine_ratio is not None and scaled is not None:
        peak_label = verdict.per_peak.label if verdict.per_peak is not None else "not tested"
        probe = PROBE_NAMES.get(verdict.bound, verdict.bound)
        text += f"; machine x{verdict.machine_ratio:.2f} ({probe}); per unit of {probe} x{scaled:.2f}, {peak_label}"
    return text


#: how the text names the probe that bounds a figure (``compare.measures.bound_of``)
PROBE_NAMES = {"peak": "peak", "latency": "latency probe"}
PER_PROBE = "per unit of the probe that bounds it (the peak for large-batch throughput, the latency probe for steps and small batches)"


def summary_lines(comparison: Comparison) -> list[str]:
    """Per compared run: what moved (one sentence) and how many rows were judged by which rule."""
    lines = []
    for label, count in comparison.tests.items():
        move = comparison.movements.get(label)
        lines.append(f"- **{label} against A**: {movement_sentence(move)} " + tests_sentence(count))
    return lines + ([""] if lines else [])


def movement_sentence(move: Any) -> str:
    if move is None:
        return ""
    machine = "" if move.machine_ratio is None else f" (median peak ratio x{move.machine_ratio:.2f})"
    changed = f"the machine's speed changed in {', '.join(move.machine_changed)}{machine}" if move.machine_changed else ""
    if move.moved == "both":
        return (f"Both moved: {changed}, and {move.per_peak} difference(s) survive {PER_PROBE}: no probe explains "
                f"those (the framework, or what no probe measures).")
    unexplained = getattr(move, "unexplained", 0)
    if move.moved == "machine" and unexplained:
        return (f"The machine moved: {changed}; {move.absolute} difference(s) survive in absolute terms, none "
                f"{PER_PROBE}, but {unexplained} of them have no bounding probe measured in both runs: nothing "
                f"says whether the machine explains those.")
    if move.moved == "machine":
        return (f"The machine moved, not the framework: {changed}; {move.absolute} difference(s) survive in absolute "
                f"terms and none {PER_PROBE}: the probes explain them.")
    if move.moved == "framework":
        per = f"{move.per_peak} {PER_PROBE}" if move.per_peak_known else "no probe to take out"
        return f"The framework moved: the machine's speed held{machine}; {move.absolute} difference(s) survive ({per})."
    if move.moved == "neither":
        return f"Neither moved among the rows tested: no difference survives{machine}."
    if changed:
        return f"Not known: no row could be tested, so nothing says what moved besides the machine ({changed})."
    return f"Not known: no row could be tested{machine}."


def tests_sentence(count: Any) -> str:
    correction = "Benjamini-Hochberg" if count.corrected else "no correction"
    repeats = getattr(count, "repeats", 0)
    return (f"{count.rows} rows: {repeats} on repeats, {count.welch} by Welch's t-test over seeds, {count.band} against "
            f"the noise band, {count.not_tested} not tested; {repeats + count.welch + count.band + count.per_peak_tests} tests "
            f"({count.per_peak_tests} per unit of the bounding probe, {correction}), {count.surviving} absolute and "
            f"{count.surviving_per_peak} per-peak differences survive.")


def format_measure(metric: Metric, measure: Measure | None) -> str:
    if measure is None or measure.value is None:
        return "—" if measure is None or not measure.note else measure.note
    if metric.kind == MACHINE_METRIC.kind:
        return f"{measure.value:,.1f}" + (f" [{measure.note}]" if measure.note else "")
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
