"""Tabulate tables from a results.json dict: training, inference, latency, accuracy, agreement, machine.

Each ``*_table`` returns (headers, rows) of already formatted strings, so the Markdown report,
the terminal summary and the tests all see the same text; ``render`` turns them into a table in
any tabulate format. Missing values show as an en dash, never as ``None`` or ``nan``.
"""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from mnist_mlp.config import FORWARD_FLOPS_PER_SAMPLE

DASH = "–"
Table = tuple[list[str], list[list[str]]]


def num(value: Any, digits: int = 2) -> str:
    if value is None or isinstance(value, bool):
        return DASH
    return f"{value:,.{digits}f}"


def rate(value: Any) -> str:
    """Samples per second: whole numbers with thousands separators."""
    return DASH if value is None else f"{value:,.0f}"


def pct(value: Any, digits: int = 1) -> str:
    return DASH if value is None else f"{value:.{digits}f}%"


def accuracy(value: Any) -> str:
    return DASH if value is None else f"{100 * value:.2f}%"


def mean_sd(stat: dict | None, digits: int = 2) -> str:
    """``mean ± stddev`` (just the mean with one sample)."""
    if not stat or stat.get("mean") is None:
        return DASH
    if (stat.get("n") or 0) > 1:
        return f"{stat['mean']:,.{digits}f} ± {stat['stddev']:,.{digits}f}"
    return f"{stat['mean']:,.{digits}f}"


def render(table: Table, fmt: str = "github") -> str:
    headers, rows = table
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


def _ok(run: dict) -> list[dict]:
    return [case for case in run.get("cases", []) if case.get("status") in ("ok", "failed", "timeout", "interrupted")]


def _largest(case: dict, path: str) -> dict | None:
    rows = [row for row in case.get("inference") or [] if row["path"] == path]
    return max(rows, key=lambda row: row["batch_size"]) if rows else None


def summary_table(run: dict) -> Table:
    """One row per case: status, time, accuracy, throughput at the largest batch, reason."""
    headers = ["case", "status", "seconds", "train wall s", "test accuracy", "samples/s (largest batch)", "note"]
    rows = []
    for case in run.get("cases", []):
        training = case.get("training") or {}
        best = _largest(case, "numpy" if case["backend"] == "numpy" else "predict")
        speed = f"{rate(best['samples_per_second'])} @ {best['batch_size']}" if best else DASH
        note = case.get("reason") or case.get("note") or ""
        rows.append([
            case["id"], case["status"], DASH if case["status"] == "skipped" else num(case.get("duration_s"), 1),
            mean_sd(training.get("wall_seconds")), accuracy((training.get("test_accuracy") or {}).get("mean")),
            speed, _short(note),
        ])
    return headers, rows


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def training_table(run: dict) -> Table:
    headers = [
        "case", "seeds", "wall s", "first epoch s", "steady s/epoch", "steady ms/step",
        f"time to {_target(run)} s", "GFLOP/s", "% of peak",
    ]
    rows = []
    for case in _ok(run):
        training = case.get("training")
        if not training:
            continue
        to_target = training.get("time_to_target_seconds") or {}
        reached = to_target.get("n") or 0
        seeds = len(training.get("per_seed") or [])
        target_text = mean_sd(to_target) if reached else "not reached"
        if reached and reached < seeds:
            target_text += f" ({reached}/{seeds} seeds)"
        rows.append([
            case["id"], str(seeds), mean_sd(training.get("wall_seconds")),
            mean_sd(training.get("first_epoch_seconds")), mean_sd(training.get("steady_epoch_seconds"), 3),
            mean_sd(training.get("steady_ms_per_step"), 3), target_text,
            num(training.get("gflops")), pct(training.get("percent_of_peak")),
        ])
    return headers, rows


def _target(run: dict) -> str:
    target = (run.get("workload") or {}).get("target_accuracy")
    return accuracy(target) if target is not None else "target"


def inference_table(run: dict) -> Table:
    headers = ["case", "path", "batch", "samples/s", "ms per batch (median)", "GFLOP/s", "% of peak"]
    rows = []
    for case in _ok(run):
        for row in case.get("inference") or []:
            median = (row.get("seconds_per_batch") or {}).get("median")
            rows.append([
                case["id"], row["path"], str(row["batch_size"]), rate(row.get("samples_per_second")),
                num(median * 1000 if median is not None else None, 3), num(row.get("gflops")), pct(row.get("percent_of_peak")),
            ])
    return headers, rows


def latency_table(run: dict) -> Table:
    headers = ["case", "path", "p50 ms", "p90 ms", "p99 ms", "rounds"]
    rows = []
    for case in _ok(run):
        for path, latency in sorted((case.get("latency_ms") or {}).items()):
            if latency:
                rows.append([case["id"], path, num(latency.get("p50"), 3), num(latency.get("p90"), 3),
                             num(latency.get("p99"), 3), str(latency.get("rounds", DASH))])
    return headers, rows


def accuracy_table(run: dict) -> Table:
    headers = ["case", "test accuracy (mean)", "min", "max", "final val accuracy (seed 0)", f"epochs to {_target(run)}"]
    rows = []
    for case in _ok(run):
        training = case.get("training")
        if not training:
            continue
        test = training.get("test_accuracy") or {}
        per_seed = training.get("per_seed") or []
        val = ((per_seed[0].get("history") or {}).get("val_accuracy") or [None])[-1] if per_seed else None
        epochs = [seed.get("epochs_to_target") for seed in per_seed]
        reached = [str(e) for e in epochs if e is not None]
        rows.append([
            case["id"], accuracy(test.get("mean")), accuracy(test.get("min")), accuracy(test.get("max")),
            accuracy(val), ", ".join(reached) if reached else "not reached",
        ])
    return headers, rows


def _sci(value: float | None) -> str:
    """Scientific notation, or a dash where the value is missing (NaN is stored as null)."""
    return f"{value:.2e}" if isinstance(value, (int, float)) else "–"


def agreement_table(run: dict) -> Table:
    headers = ["case", "max |p - p_numpy|", "argmax agreement", "argmax differences (at ties)", "test images"]
    rows = []
    for case in _ok(run):
        agree = case.get("agreement")
        if not agree:
            continue
        rows.append([
            case["id"], _sci(agree.get("max_abs_diff")), accuracy(agree.get("argmax_agreement")),
            f"{agree.get('argmax_differences', 0)} ({agree.get('argmax_differences_at_ties', 0)})",
            f"{agree.get('samples', 0):,}",
        ])
    return headers, rows


def machine_table(run: dict) -> Table:
    machine = run.get("machine") or {}
    cpu = machine.get("cpu") or {}
    software = run.get("software") or {}
    tool = run.get("tool") or {}
    dataset = run.get("dataset") or {}
    threads = machine.get("threads") or {}
    gpus = machine.get("gpus") or []
    memory = machine.get("memory_bytes")
    rows = [
        ["host", str(machine.get("host", DASH))],
        ["OS", str(machine.get("os", DASH))],
        ["Python", str(machine.get("python", DASH))],
        ["CPU", f"{cpu.get('model', DASH)} ({cpu.get('logical_cores', DASH)} logical, {cpu.get('physical_cores') or DASH} physical cores)"],
        ["memory", f"{memory / 2**30:.1f} GiB" if memory else DASH],
        ["GPUs", "; ".join(
            f"{g.get('name')} ({(g.get('memory_bytes') or 0) / 2**30:.0f} GiB, driver {g.get('driver')})" for g in gpus
        ) or "none"],
        ["thread settings", ", ".join(f"{k}={v}" for k, v in (threads.get("env") or {}).items()) or "defaults"],
    ]
    for label, value in (machine.get("peak_gflops") or {}).items():
        rows.append([f"FP32 matmul peak ({label})", f"{value:,.1f} GFLOP/s = {value * 1e9 / FORWARD_FLOPS_PER_SAMPLE:,.0f} forward samples/s"])
    rows += [[name, str(version)] for name, version in software.items() if version]
    rows += [
        ["dataset SHA-256", str(dataset.get("sha256", DASH))],
        ["commit", f"{tool.get('commit') or DASH}{' (dirty)' if tool.get('dirty') else ''}"],
    ]
    return ["", ""], rows


def format_all(run: dict, fmt: str = "github") -> dict[str, str]:
    """Every table, rendered, by section name (empty tables omitted)."""
    tables = {
        "Summary": summary_table(run),
        "Training": training_table(run),
        "Inference throughput": inference_table(run),
        "Batch-1 latency": latency_table(run),
        "Accuracy": accuracy_table(run),
        "Agreement with the NumPy reference": agreement_table(run),
        "Machine": machine_table(run),
    }
    return {name: render(table, fmt) for name, table in tables.items() if table[1]}


def peak_samples_per_second(run: dict) -> dict[str, float]:
    """Each measured matmul peak expressed as forward-pass samples/s (the throughput ceiling)."""
    peaks = (run.get("machine") or {}).get("peak_gflops") or {}
    return {label: value * 1e9 / FORWARD_FLOPS_PER_SAMPLE for label, value in peaks.items() if value}


