"""Tabulate tables from a results.json dict: training, inference, latency, accuracy, agreement, machine.

Each ``*_table`` returns (headers, rows) of already formatted strings, so the Markdown report,
the terminal summary and the tests all see the same text; ``render`` turns them into a table in
any tabulate format. Missing values show as an en dash, never as ``None`` or ``nan``.
"""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from mnist_mlp import backends
from mnist_mlp.compare.measures import split_cold_warm
from mnist_mlp.config import seed_span  # noqa: F401  (tables.seed_span: how every table names seeds)
from mnist_mlp.report.fmt import DASH, num
from mnist_mlp.results import stats

#: marks a figure above the peak measured beside its case (explained under the table, ``ABOVE_PEAK_NOTE``)
ABOVE_PEAK = "‼"
ABOVE_PEAK_NOTE = (
    f"{ABOVE_PEAK} above 100% of the peak measured beside the case: the figure cannot be right against a true "
    "ceiling. Likely reasons: the peak probes ran while the machine was busy or throttled (see Machine state), "
    "or the framework's kernels for these small shapes beat its own large-matmul probe (cache-resident weights)."
)

Table = tuple[list[str], list[list[str]]]


def rate(value: Any) -> str:
    """Samples per second: whole numbers with thousands separators."""
    return DASH if value is None else f"{value:,.0f}"


def pct(value: Any, digits: int = 1) -> str:
    return DASH if value is None else f"{value:.{digits}f}%"


def peak_pct(value: Any) -> str:
    """% of peak, marked when above 100% (never shown silently)."""
    text = pct(value)
    return f"{text} {ABOVE_PEAK}" if value is not None and value > 100.0 else text


def any_above_peak(run: dict) -> bool:
    for case in run.get("cases", []):
        rows = [*(case.get("inference") or []), case.get("training") or {}]
        if any((row.get("percent_of_peak") or 0) > 100.0 for row in rows):
            return True
    return False


def flags(case: dict) -> str:
    """``busy``/``unstable`` beside a case's name wherever its numbers are shown, and ``peak given``
    when its peak was typed in (``$MNIST_MLP_BENCH_PEAK_GFLOPS``) rather than measured."""
    marks = [name for name in ("busy", "unstable") if case.get(name)]
    if (case.get("peak") or {}).get("given"):
        marks.append("peak given")
    return f" ({', '.join(marks)})" if marks else ""


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
    """One row per case: status, time, training wall time cold and warm apart (never averaged: the
    cold seed pays compilation), accuracy, throughput at the largest batch, reason."""
    headers = ["case", "status", "seconds", "train wall s cold", "train wall s warm", "test accuracy", "samples/s (largest batch)", "note"]
    rows = []
    for case in run.get("cases", []):
        training = case.get("training") or {}
        best = _largest(case, backends.headline_path(case["backend"]))
        speed = f"{rate(best['samples_per_second'])} @ {best['batch_size']}" if best else DASH
        note = case.get("reason") or case.get("note") or ""
        rows.append([
            case["id"] + flags(case), case["status"], DASH if case["status"] == "skipped" else num(case.get("duration_s"), 1),
            *_cold_warm_wall(training), accuracy((training.get("test_accuracy") or {}).get("mean")),
            speed, _short(note),
        ])
    return headers, rows


def _cold_warm_wall(training: dict) -> list[str]:
    """The cold seed's wall time and the warm seeds' (``one seed`` when there is no warm one)."""
    if not (training or {}).get("per_seed"):
        return [DASH, DASH]
    cold, warm = _by_condition(training["per_seed"], "wall_seconds")
    return [mean_sd(cold), mean_sd(warm) if warm["n"] else f"{DASH} (one seed)"]


def _by_condition(per_seed: list, key: str) -> tuple[dict, dict]:
    """(cold, warm) statistics of one per-seed figure, the seeds split as compare splits them."""
    return tuple(stats(s[key] for s in seeds if isinstance(s.get(key), (int, float)))  # type: ignore[return-value]
                 for seeds in split_cold_warm(per_seed))


def _to_target(seeds: list, stat: dict) -> str:
    """Time to target over ``seeds``: ``not reached``, or the mean and how many reached it."""
    if not seeds:
        return DASH
    if not stat["n"]:
        return "not reached"
    return mean_sd(stat) + (f" ({stat['n']}/{len(seeds)} seeds)" if stat["n"] < len(seeds) else "")


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def training_table(run: dict) -> Table:
    """Cold (the first seed in its process: what a user's own script pays) and warm (later seeds,
    caches warm) side by side, each with the statistics of the seeds sharing its condition."""
    headers = [
        "case", "seeds", "cold wall s", "warm wall s", "cold first epoch s", "warm first epoch s",
        "steady s/epoch", "steady ms/step", f"cold time to {_target(run)} s", f"warm time to {_target(run)} s",
        "GFLOP/s", "% of peak",
    ]
    rows = []
    for case in _ok(run):
        training = case.get("training")
        if not training:
            continue
        per_seed = training.get("per_seed") or []
        seeds = len(per_seed)
        target_text = [_to_target(part, stat) for part, stat in
                       zip(split_cold_warm(per_seed), _by_condition(per_seed, "time_to_target_seconds"))]
        if seeds == 1:
            target_text[1] = f"{DASH} (one seed)"
        cold, warm = training.get("cold") or {}, training.get("warm") or {}
        rows.append([
            case["id"] + flags(case), str(seeds), mean_sd(cold.get("wall_seconds")), mean_sd(warm.get("wall_seconds")),
            mean_sd(cold.get("first_epoch_seconds")), mean_sd(warm.get("first_epoch_seconds")),
            mean_sd(training.get("steady_epoch_seconds"), 3), mean_sd(training.get("steady_ms_per_step"), 3), *target_text,
            num(training.get("gflops")), peak_pct(training.get("percent_of_peak")),
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
                case["id"] + flags(case), row["path"], str(row["batch_size"]), rate(row.get("samples_per_second")),
                num(median * 1000 if median is not None else None, 3), num(row.get("gflops")), peak_pct(row.get("percent_of_peak")),
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


def training_agreement_table(run: dict) -> Table:
    """Per case: K training steps against the NumPy training reference (``verify --training``)."""
    headers = ["case", "steps", "max |loss diff|", "max |gradient diff|", "max |weight diff|", "verdict"]
    rows = []
    for case in _ok(run):
        check = case.get("training_agreement")
        if not check:
            continue
        if "skipped" in check:
            rows.append([case["id"], "–", "–", "–", "–", f"not run: {check['skipped']}"])
            continue
        worst, tol = check.get("max_diff") or {}, check.get("tolerance") or {}
        rows.append([case["id"], str(check.get("steps", "–")), *(_sci(worst.get(q)) for q in ("loss", "gradients", "weights")),
                     ("OK" if check.get("ok") else "MISMATCH") + f" (tolerance {_sci(tol.get('weights'))} on weights)"])
    return headers, rows


def machine_state_table(run: dict) -> Table:
    """Per case: the peak probes around it, what else the machine did meanwhile, and the verdict."""
    headers = ["case", "peak before GFLOP/s", "peak after GFLOP/s", "probe change", "other processes (cores)",
               "steal", "load avg (max)", "state"]
    rows = []
    for case in run.get("cases", []):
        peak, load = case.get("peak") or {}, case.get("load") or {}
        if not peak and not load:
            continue
        verdict = "; ".join(case.get("machine_flags") or []) or "clean"
        rows.append([
            case["id"], num(peak.get("before_gflops"), 1), num(peak.get("after_gflops"), 1), pct(peak.get("change_percent")),
            DASH if load.get("outside_cores_mean") is None else f"{load['outside_cores_mean']:.2f} (max {num(load.get('outside_cores_max'))})",
            pct(load.get("steal_percent")), num(load.get("loadavg1_max")), _short(verdict, 120),
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
    forward = forward_flops(run)
    for label, value in (machine.get("peak_gflops") or {}).items():
        rows.append([f"FP32 matmul peak ({label})", f"{value:,.1f} GFLOP/s = {value * 1e9 / forward:,.0f} forward samples/s"])
    at_start = run.get("machine_state_at_start") or {}
    if at_start:
        rows.append(["load before the first case", (
            f"other processes {at_start.get('outside_cores_mean', 0):.2f} cores, steal {pct(at_start.get('steal_percent'))}"
            + (" (busy)" if at_start.get("busy") else ""))])
    rows += [[name, str(version)] for name, version in software.items() if version]
    rows += [
        ["dataset SHA-256", str(dataset.get("sha256", DASH))],
        ["commit", f"{tool.get('commit') or DASH}{' (dirty)' if tool.get('dirty') else ''}"],
    ]
    return ["", ""], rows


def data_parallel_cases(run: dict) -> list[tuple[dict, dict]]:
    """(case, its ``training.data_parallel`` facts) of every data-parallel case that trained."""
    return [(case, case["training"]["data_parallel"]) for case in _ok(run)
            if (case.get("training") or {}).get("data_parallel")]


def scaling_baseline(run: dict, case: dict, facts: dict) -> dict | None:
    """The same run's one-device data-parallel case of this backend, device and scaling (for T1)."""
    for other, other_facts in data_parallel_cases(run):
        if (other["backend"], other["device"], other_facts.get("scaling"), other_facts.get("lr_rule")) == (
                case["backend"], case["device"], facts.get("scaling"), facts.get("lr_rule")) and other_facts.get("devices") == 1:
            return other_facts
    return None


def speedup(run: dict, case: dict, facts: dict) -> float | None:
    """T1/TN as throughput: samples/s on N devices over samples/s on one (same samples per epoch)."""
    base = scaling_baseline(run, case, facts)
    if not base or not base.get("samples_per_second") or not facts.get("samples_per_second"):
        return None
    return facts["samples_per_second"] / base["samples_per_second"]


def data_parallel_table(run: dict) -> Table:
    """N, batches, learning rate, throughput (the warm seeds' mean, cold apart; the cold seed when it
    ran alone, said beside it), speedup and efficiency against the run's own one-device case, start-up, accuracy, and the N-vs-1 equivalence; simulated devices say so on every row."""
    headers = ["case", "N", "scaling", "per-device batch", "global batch", "learning rate", "steps/s", "samples/s",
               "speedup T1/TN", "efficiency T1/(N·TN)", "start-up s", "test accuracy", "max |Δw| vs 1 device", "note"]
    rows = []
    for case, facts in data_parallel_cases(run):
        gain = speedup(run, case, facts)
        equivalence = facts.get("equivalence") or {}
        diff = equivalence.get("max_abs_weight_diff")
        verdict = "" if diff is None else (" ok" if equivalence.get("ok") else " MISMATCH")
        rows.append([
            case["id"] + flags(case), str(facts.get("devices")), facts.get("scaling", DASH) + (
                f" (lr {facts['lr_rule']})" if facts.get("lr_rule") not in (None, "none") else ""),
            str(facts.get("per_device_batch")), str(facts.get("global_batch")), f"{facts.get('learning_rate', 0):g}",
            num(facts.get("steps_per_second"), 1),
            rate(facts.get("samples_per_second")) + (f" ({facts['condition']})" if facts.get("condition") else ""),
            num(gain), num(gain / facts["devices"] if gain else None), num(facts.get("startup_seconds"), 1),
            accuracy(((case.get("training") or {}).get("test_accuracy") or {}).get("mean")),
            (_sci(diff) + verdict) if diff is not None else DASH, facts.get("note") or "",
        ])
    return headers, rows


def format_all(run: dict, fmt: str = "github") -> dict[str, str]:
    """Every table, rendered, by section name (empty tables omitted)."""
    from mnist_mlp.report import keras_cost, race_text

    tables = {
        race_text.section_name(run): race_text.table(run),
        "Summary": summary_table(run),
        "Training": training_table(run),
        "What Keras costs": keras_cost.table(run),
        "Inference throughput": inference_table(run),
        "Batch-1 latency": latency_table(run),
        "Accuracy": accuracy_table(run),
        "Agreement with the NumPy reference": agreement_table(run),
        "Training agreement with the NumPy reference": training_agreement_table(run),
        "Data parallel": data_parallel_table(run),
        "Machine state per case": machine_state_table(run),
        "Machine": machine_table(run),
    }
    rendered = {name: render(table, fmt) for name, table in tables.items() if table[1]}
    if race_text.section_name(run) in rendered:
        rendered[race_text.section_name(run)] += "\n\n" + race_text.notes(run)
    if "What Keras costs" in rendered:
        rendered["What Keras costs"] += "\n\n" + keras_cost.note(run)
    if "Data parallel" in rendered:
        from mnist_mlp.parallel.plan import DATA_PARALLEL_NOTE

        rendered["Data parallel"] += "\n\n" + DATA_PARALLEL_NOTE
    if any_above_peak(run):
        for name in ("Training", "Inference throughput"):
            if name in rendered:
                rendered[name] += "\n\n" + ABOVE_PEAK_NOTE
    return rendered


def forward_flops(run: dict) -> int:
    """Forward FLOPs per sample of the run's model, as its cases derived them from their layers."""
    from mnist_mlp.flops import seed_model

    for case in run.get("cases", []):
        value = (case.get("flops") or {}).get("forward_per_sample")
        if value:
            return int(value)
    return seed_model().forward_per_sample


def peak_samples_per_second(run: dict) -> dict[str, float]:
    """Each measured matmul peak expressed as forward-pass samples/s (the throughput ceiling)."""
    peaks = (run.get("machine") or {}).get("peak_gflops") or {}
    forward = forward_flops(run)
    return {label: value * 1e9 / forward for label, value in peaks.items() if value}
