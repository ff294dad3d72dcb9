"""The README's headline tables, printed from committed runs: ``python benchmarks/headline.py RUN [OPEN_RUN]``.

One row per case of RUN (a full-profile run): its training ms per step (warm, steady; mean over
its seeds), its mean test accuracy, the time to 97.9% of the same case in OPEN_RUN (the open
division's olympic score), its batch-1 p50 latency and samples/s at the largest batch on its
fastest path (a framework's direct call, NumPy's forward pass, a runtime's artifact), its cold
start and its peak memory (the higher of its training and inference peaks). Every figure is read
from the results.json files as they are, so the README's table can be checked by running this.

Then, where RUN has serving cases, one row per runtime: batch-1 p50 and samples/s at 10,000 as
speed-ups over the fastest framework's direct call and the NumPy forward pass of the same run
(``mnist_mlp.report.serving_text``, the report's own rule), % of peak at 10,000, the largest
difference from NumPy, the test-accuracy change and the cold start.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DASH = "–"
#: the path a case is summarised by, fastest first where it has several
PATHS = ("runtime", "direct", "numpy")


def _load(path: str) -> dict[str, Any]:
    folder = Path(path)
    return json.loads((folder / "results.json" if folder.is_dir() else folder).read_text(encoding="utf-8"))


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _fmt(value: Any, pattern: str) -> str:
    return DASH if not isinstance(value, (int, float)) else pattern.format(value)


def row(case: dict[str, Any], race: dict[str, Any] | None) -> list[str]:
    training = case.get("training") or {}
    ms = _get(training, "warm", "steady_ms_per_step", "mean") or _get(training, "steady_ms_per_step", "mean")
    accuracy = _get(training, "test_accuracy", "mean")
    path = next((p for p in PATHS if p in (case.get("latency_ms") or {})), None)
    p50 = _get(case, "latency_ms", path, "p50") if path else None
    rows = [r for r in case.get("inference") or [] if r.get("path") == path]
    largest = max(rows, key=lambda r: r["batch_size"]) if rows else {}
    peaks = [_get(case, "memory", phase, "peak_rss_bytes") for phase in ("training", "inference")]
    peak = max((p for p in peaks if isinstance(p, (int, float))), default=None)
    score = _get(race, "race", "score", "seconds") if race else None
    return [case["id"], _fmt(ms, "{:.3f}"), _fmt(score, "{:.2f}"), _fmt(None if accuracy is None else 100 * accuracy, "{:.2f}%"),
            f"{_fmt(p50, '{:.3f}')} ({path})" if path else DASH,
            f"{_fmt(largest.get('samples_per_second'), '{:,.0f}')} @ {largest['batch_size']:,}" if largest else DASH,
            _fmt(_get(case, "cold_start", "total_s"), "{:.2f}"), _fmt(None if peak is None else peak / 2**20, "{:,.0f}")]


def table(run: dict[str, Any], open_run: dict[str, Any] | None) -> str:
    races = {c["id"]: c for c in (open_run or {}).get("cases", []) if c.get("status") == "ok"}
    headers = ["case", "train ms/step", "time to 97.9% s", "test accuracy", "batch-1 p50 ms (path)", "samples/s at the largest batch",
               "cold start s", "peak memory MiB"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for case in run.get("cases", []):
        if case.get("status") == "ok":
            lines.append("| " + " | ".join(row(case, races.get(case["id"]))) + " |")
    return "\n".join(lines)


def serving_table(run: dict[str, Any]) -> str | None:
    from mnist_mlp.report.serving_text import best_latency, best_reference, serving_cases

    cases = serving_cases(run)
    if not cases:
        return None
    direct_p50, numpy_p50 = best_latency(run, "direct")[0], best_latency(run, "numpy")[0]
    headers = ["runtime case", "precision in force", "batch-1 p50 ms", "vs direct", "vs NumPy", "samples/s at 10,000",
               "vs direct", "vs NumPy", "% of peak", "max abs diff from NumPy", "accuracy change", "cold start s"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for case in cases:
        p50 = _get(case, "latency_ms", "runtime", "p50")
        row = next((r for r in case.get("inference") or [] if r.get("path") == "runtime" and r.get("batch_size") == 10000), {})
        speed = row.get("samples_per_second")
        direct, numpy = best_reference(run, "direct", 10000)[0], best_reference(run, "numpy", 10000)[0]
        check = case["serving"]
        lines.append("| " + " | ".join([
            case["id"], str(_get(check, "setting", "in_force")),
            _fmt(p50, "{:.3f}"), _fmt(direct_p50 / p50 if p50 and direct_p50 else None, "{:.2f}x"),
            _fmt(numpy_p50 / p50 if p50 and numpy_p50 else None, "{:.2f}x"), _fmt(speed, "{:,.0f}"),
            _fmt(speed / direct if speed and direct else None, "{:.2f}x"), _fmt(speed / numpy if speed and numpy else None, "{:.2f}x"),
            _fmt(row.get("percent_of_peak"), "{:.0f}%"), _fmt(check.get("max_abs_diff"), "{:.1e}"),
            _fmt(None if check.get("accuracy_change") is None else 100 * check["accuracy_change"], "{:+.2f} pt"),
            _fmt(_get(case, "cold_start", "total_s"), "{:.2f}")]) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print("usage: python benchmarks/headline.py RUN [OPEN_RUN]", file=sys.stderr)
        return 2
    try:
        runs = [_load(path) for path in argv]
    except (OSError, ValueError) as exc:
        print(f"headline.py: cannot read a run: {exc}", file=sys.stderr)
        return 2
    print(table(runs[0], runs[1] if len(runs) > 1 else None))
    serving = serving_table(runs[0])
    if serving:
        print()
        print(serving)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
