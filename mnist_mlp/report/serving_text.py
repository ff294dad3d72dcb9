"""The report's "Serving" section: the exported model on each runtime beside the frameworks.

Four tables and one figure, from the serving cases' records (``serving``: the artifact's check;
``inference``/``latency_ms`` on the ``runtime`` path) and every inference case's ``cold_start``:

* the check: precision asked and in force, the artifact's size, its largest difference from the
  NumPy forward pass and its test accuracy; float32 rows are held to 1e-5, reduced-precision rows
  (bfloat16, int8) state their accuracy change instead and are never mixed into the float32 ones;
* throughput per batch size as speed-ups over three references measured in the same run: the
  fastest Keras ``predict``, the fastest framework's direct call, and the NumPy forward pass (the
  framework-free floor of a Python call); with % of the case's own matmul peak;
* batch-1 latency p50/p90/p99 with the same speed-ups (reference p50 / case p50);
* cold start: a fresh process to the first correct prediction, its parts apart.

A speed-up above 1 means the runtime is faster than the reference. Each reference is named, with
the case it came from, so every ratio can be traced to two rows of results.json.
"""

from __future__ import annotations

from typing import Any

from mnist_mlp.config import BACKENDS
from mnist_mlp.report.fmt import DASH
from mnist_mlp.report.tables import Table, flags, render

SECTION = "Serving"
#: (label, path, which cases): the references every runtime figure is set against
REFERENCES = (("Keras predict", "predict"), ("direct call", "direct"), ("NumPy", "numpy"))


def serving_cases(run: dict) -> list[dict]:
    return [case for case in run.get("cases", []) if isinstance(case.get("serving"), dict) and case.get("status") != "skipped"]


def _throughput(case: dict, path: str) -> dict[int, dict]:
    return {row["batch_size"]: row for row in case.get("inference") or [] if row.get("path") == path}


def _framework(case: dict, path: str) -> bool:
    if path == "numpy":
        return case.get("backend") == "numpy"
    return case.get("backend") in BACKENDS and case.get("status") == "ok"


def best_reference(run: dict, path: str, batch: int) -> tuple[float | None, str | None]:
    """The fastest samples/s on ``path`` at ``batch`` among the framework cases, and whose."""
    found = [(row["samples_per_second"], case["id"]) for case in run.get("cases", []) if _framework(case, path)
             for size, row in _throughput(case, path).items() if size == batch and row.get("samples_per_second")]
    return max(found) if found else (None, None)


def best_latency(run: dict, path: str) -> tuple[float | None, str | None]:
    """The lowest batch-1 p50 (ms) on ``path`` among the framework cases, and whose."""
    found = [(float(case["latency_ms"][path]["p50"]), case["id"]) for case in run.get("cases", []) if _framework(case, path)
             and isinstance((case.get("latency_ms") or {}).get(path), dict) and case["latency_ms"][path].get("p50")]
    return min(found) if found else (None, None)


def _ratio(value: float | None) -> str:
    return DASH if not value else f"{value:.2f}x"


def check_table(run: dict) -> Table:
    headers = ["case", "precision asked / in force", "artifact kB", "max abs diff from NumPy", "float32 check (1e-5)",
               "test accuracy", "change"]
    rows = []
    for case in serving_cases(run):
        check = case["serving"]
        setting = check.get("setting") or {}
        verdict = "reduced: not held to 1e-5" if check.get("reduced") else ("ok" if check.get("ok") else "FAILED")
        rows.append([f"{case['id']}{flags(case)}", f"{setting.get('asked', DASH)} / {setting.get('in_force', DASH)}",
                     f"{check['artifact_bytes'] / 1e3:,.0f}" if check.get("artifact_bytes") else DASH,
                     f"{check['max_abs_diff']:.1e}" if check.get("max_abs_diff") is not None else DASH, verdict,
                     f"{100 * check['test_accuracy']:.2f}%" if check.get("test_accuracy") is not None else DASH,
                     f"{100 * check['accuracy_change']:+.2f} pt" if check.get("accuracy_change") is not None else DASH])
    return headers, rows


def throughput_table(run: dict) -> Table:
    headers = ["case", "batch", "samples/s", "% of peak", *(f"vs {label}" for label, _ in REFERENCES)]
    rows = []
    for case in serving_cases(run):
        for batch, row in sorted(_throughput(case, "runtime").items()):
            mine = row.get("samples_per_second")
            ratios = [_ratio(mine / best) if mine and best else DASH
                      for best in (best_reference(run, path, batch)[0] for _, path in REFERENCES)]
            peak = row.get("percent_of_peak")
            rows.append([f"{case['id']}{flags(case)}", f"{batch:,}", f"{mine:,.0f}" if mine else DASH,
                         DASH if peak is None else f"{peak:.1f}%", *ratios])
    return headers, rows


def latency_table(run: dict) -> Table:
    headers = ["case", "p50 ms", "p90 ms", "p99 ms", *(f"vs {label}" for label, _ in REFERENCES)]
    references = [best_latency(run, path)[0] for _, path in REFERENCES]
    rows = []
    for case in serving_cases(run):
        latency = (case.get("latency_ms") or {}).get("runtime") or {}
        p50 = latency.get("p50")
        rows.append([f"{case['id']}{flags(case)}", *(f"{latency[k]:.3f}" if latency.get(k) is not None else DASH
                                                      for k in ("p50", "p90", "p99")),
                     *(_ratio(ref / p50) if ref and p50 else DASH for ref in references)])
    return headers, rows


def cold_table(run: dict) -> Table:
    headers = ["case", "loads", "interpreter s", "imports s", "load s", "first call s", "total s", "artifact kB", "correct"]
    rows = []
    for case in run.get("cases", []):
        cold = case.get("cold_start")
        if not isinstance(cold, dict):
            continue
        def seconds(key: str) -> str:
            return DASH if not isinstance(cold.get(key), (int, float)) else f"{cold[key]:.3f}"
        rows.append([f"{case['id']}{flags(case)}", str(cold.get("loads", DASH)), *(seconds(k) for k in (
            "interpreter_s", "imports_s", "load_s", "first_call_s", "total_s")),
            f"{cold['artifact_bytes'] / 1e3:,.0f}" if cold.get("artifact_bytes") else DASH,
            "yes" if cold.get("correct") else f"no ({cold.get('error') or 'a wrong answer'})"])
    return headers, rows


def notes(run: dict) -> str:
    """Which case each reference came from, at the largest batch and at batch 1."""
    sizes = sorted({row["batch_size"] for case in serving_cases(run) for row in case.get("inference") or []})
    parts = []
    for label, path in REFERENCES:
        speed, whose = best_reference(run, path, sizes[-1]) if sizes else (None, None)
        p50, fastest = best_latency(run, path)
        if whose or fastest:
            parts.append(f"*{label}*: {whose or DASH} at batch {sizes[-1]:,} ({speed:,.0f} samples/s)" if whose else f"*{label}*: {DASH}")
            if fastest:
                parts[-1] += f", {fastest} at batch 1 (p50 {p50:.3f} ms)"
    return ("Each artifact was exported from the weights named in the case's note, loaded with its precision set as "
            "shown and checked on the 10,000 test images before it was timed. Speed-ups are the case's samples/s over "
            "the reference's (throughput) or the reference's p50 over the case's (latency): above 1, the runtime is "
            "faster. The references, the fastest framework case of this run on that path: " + "; ".join(parts) + "."
            if parts else "No framework case in this run to set the runtimes against.")


COLD_NOTE = ("Cold start: a fresh process (`serving.cold`) from its spawn to the first correct prediction of one test "
             "image: the interpreter's start, the imports (NumPy and the runtime or framework), loading the artifact "
             "(a .keras file on the case's own Keras backend for a framework case, the weights for NumPy), and the "
             "first call with whatever it compiles; *total* is the parent's clock from the spawn to the answer.")


def section(run: dict, fmt: str = "github") -> str | None:
    """The section's Markdown, or None where the run has no serving case and no cold start."""
    blocks = []
    if serving_cases(run):
        blocks += ["### The artifacts, checked against NumPy", render(check_table(run), fmt),
                   "### Throughput", render(throughput_table(run), fmt), "### Batch-1 latency", render(latency_table(run), fmt),
                   notes(run)]
    cold = cold_table(run)
    if cold[1]:
        blocks += ["### Cold start", render(cold, fmt), COLD_NOTE]
    return "\n\n".join(blocks) if blocks else None


def with_serving(sections: dict[str, str], run: dict, fmt: str = "github") -> dict[str, str]:
    """``sections`` with the Serving section after the inference tables (before Memory, else at the end)."""
    text = section(run, fmt)
    if text is None:
        return sections
    out: dict[str, str] = {}
    for name, body in sections.items():
        if name in ("Memory", "Machine state per case", "Machine") and SECTION not in out:
            out[SECTION] = text
        out[name] = body
    out.setdefault(SECTION, text)
    return out


def plot(run: dict, path: Any) -> Any:
    """Seconds per batch and samples/s against batch size (log-log): each runtime beside each
    framework's direct call and the NumPy forward pass."""
    from mnist_mlp.report.plots import pyplot, save_figure

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for case in run.get("cases", []):
        served = "runtime" if isinstance(case.get("serving"), dict) else ("numpy" if case.get("backend") == "numpy" else "direct")
        rows = sorted(_throughput(case, served).items())
        if not rows or case.get("status") == "skipped":
            continue
        style = "-o" if served == "runtime" else "--s"
        sizes = [size for size, _ in rows]
        left.plot(sizes, [1e3 * row["seconds_per_batch"]["median"] for _, row in rows], style, label=f"{case['id']} {served}", ms=4)
        right.plot(sizes, [row["samples_per_second"] for _, row in rows], style, ms=4)
    for axis, label in ((left, "ms per batch (median)"), (right, "samples/s")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("batch size")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    lines = len(left.get_lines())
    fig.set_size_inches(12, 4.8 + 0.22 * -(-lines // 3))  # the legend's rows below the panels
    fig.tight_layout(rect=(0, 0.05 + 0.045 * -(-lines // 3), 1, 1))
    fig.legend(loc="lower center", ncol=3, fontsize=7, frameon=False)
    return save_figure(fig, path)
