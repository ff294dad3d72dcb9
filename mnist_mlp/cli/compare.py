"""``mnist-mlp compare | runs | gate | calibrate``: argument parsing only; the work is in the library.

Registered by ``mnist_mlp.cli.main`` through ``add_commands``. Heavy imports (matplotlib, scipy) wait
inside the handlers so that ``mnist-mlp --help`` stays quick.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mnist_mlp.cli import argtypes

from mnist_mlp.gate import calibration
from mnist_mlp.cli.output import emit
from mnist_mlp.errors import EXIT_GATE_FAILED, ResultFileError, UsageError

DEFAULT_REPORTS = Path("reports")


def _reference_runs(folder: Path) -> list[Path]:
    """The reference runs' results files under ``folder``, oldest first by their folder's UTC name;
    the open division's (a race, no sweep to set a run against) left out."""
    found = []
    for path in sorted(folder.glob("*/results.json"), key=lambda p: p.parent.name):
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("profile") != "open":
                found.append(path)
        except (OSError, ValueError, AttributeError):
            continue  # an unreadable one is not a baseline; compare says why when it is named
    return found


def cmd_compare(args: argparse.Namespace) -> int:
    from mnist_mlp import atomic, compare
    from mnist_mlp.report.compare_plot import plot_comparison
    from mnist_mlp.report.compare_text import comparison_markdown

    if len(args.runs) == 1:  # one run: set against the newest committed reference run
        references = _reference_runs(DEFAULT_REPORTS / "reference")
        if not references:
            raise UsageError(f"compare: give two runs, or one with a reference run under {DEFAULT_REPORTS / 'reference'} to set it against")
        args.runs = [references[-1].parent, *args.runs]
        print(f"compare: the baseline is the reference run {references[-1].parent}", file=sys.stderr)
    try:
        band = compare.load_band(args.noise_band)
    except (OSError, ValueError) as exc:
        raise UsageError(f"compare: cannot read the noise band {args.noise_band}: {exc}") from exc
    comparison = compare.compare(compare.load_runs(args.runs), band=band)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = atomic.ensure_writable_dir(args.out or DEFAULT_REPORTS / f"compare-{stamp}")
    chart = plot_comparison(comparison, out / "compare.png")
    markdown = comparison_markdown(comparison, chart.name if chart else None)
    atomic.write_text(out / "compare.md", markdown)
    payload = comparison.to_dict()
    atomic.write_json(out / "compare.json", payload)
    checking = args.fail_if_slower is not None or args.fail_if_less_accurate is not None
    regressions = comparison.regressions(args.fail_if_slower, args.fail_if_less_accurate) if checking else []
    files = [str(out / "compare.md"), str(out / "compare.json")] + ([str(chart)] if chart else [])
    payload.update(files=files, regressions=regressions)
    emit(args, payload, markdown + "\nwrote " + ", ".join(files))
    if checking and comparison.not_comparable:
        label, reasons = next(iter(comparison.not_comparable.items()))
        raise UsageError(f"cannot check for regressions: run {label} is not comparable with A ({'; '.join(reasons)})")
    if regressions:
        for line in regressions:
            print(f"mnist-mlp: regression: {line}", file=sys.stderr)
        return EXIT_GATE_FAILED
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from mnist_mlp import runs

    path = runs.write_index(args.reports)
    entries, skipped = runs.scan(args.reports)
    emit(
        args,
        {"index": str(path), "runs": [e.row() for e in entries], "skipped": skipped},
        runs.render(entries, skipped) + f"\nwrote {path}",
    )
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from mnist_mlp.gate.check import gate_run
    from mnist_mlp.report.gate_text import gate_markdown, write_gate_file

    report = gate_run(args.run, args.thresholds)
    write_gate_file(report, args.run)
    emit(args, report.to_dict(), gate_markdown(report))
    if not report.passed:
        print(f"mnist-mlp: gate failed: {'; '.join(report.failures)}", file=sys.stderr)
        return EXIT_GATE_FAILED
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from mnist_mlp import results

    if not args.runs and not args.accuracies:
        raise UsageError("calibrate: give run folders, --accuracies FILE, or both")
    accuracies: dict[str, list[float]] = {}
    workload, sources = None, []
    if args.runs:
        loaded = [(str(p), results.load(p)) for p in args.runs]
        accuracies, workload = calibration.accuracies_from_runs(loaded)
        sources += [f"{where} ({run['run_id']})" for where, run in loaded]
    label = args.label
    if args.accuracies:
        extra = _read_accuracies(args.accuracies)
        for backend, values in extra["accuracies"].items():
            accuracies.setdefault(backend, []).extend(values)
        if workload and extra.get("workload") and extra["workload"] != workload:
            raise UsageError(f"--accuracies {args.accuracies}: its workload differs from the runs'; "
                             "one calibration holds one workload")
        workload = workload or extra.get("workload")
        sources += [str(args.accuracies)] + list(extra.get("sources") or [])
        label = label or extra.get("label")
    doc = calibration.calibrate(
        accuracies,
        label=label or "calibration runs",
        provisional=args.provisional,
        sources=sources,
        workload=workload,
    )
    written = [str(calibration.write(doc, path)) for path in (args.write or calibration.default_targets())]
    lines = [f"{b}: {c['n']} seeds, mean {c['mean']:.2%}, stddev {c['stddev']:.2%}" for b, c in doc["calibration"].items()]
    lines += [doc["decision"]["rule"], "mean threshold = " + doc["formula"]["mean_threshold"], "seed floor = " + doc["formula"]["seed_floor"]]
    lines += [
        f"  {e['backend']}: {e['groups']} group(s) x {e['seeds']} seed(s): mean >= {e['mean_threshold']:.2%}, each seed >= {e['seed_floor']:.2%}"
        for e in doc["examples"]
    ]
    emit(args, {**doc, "written": written}, "\n".join(lines) + "\nwrote " + ", ".join(written))
    return 0


def _read_accuracies(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResultFileError(f"{path}: unreadable accuracies file ({exc})") from None
    table = doc.get("accuracies") if isinstance(doc, dict) else None
    if not isinstance(table, dict) or not all(
        isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) for v in table.values()
    ):
        raise ResultFileError(f"{path}: expected {{\"accuracies\": {{backend: [fractions]}}}}")
    for key, kind, what in (("workload", dict, "an object of training settings"), ("label", str, "text"),
                            ("sources", list, "a list of text")):
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise ResultFileError(f"{path}: {key} must be {what}")
    if doc.get("sources") is not None and not all(isinstance(x, str) for x in doc["sources"]):
        raise ResultFileError(f"{path}: sources must be a list of text")
    return doc


def add_commands(sub: Any) -> None:
    """Register ``compare``, ``runs``, ``gate`` and ``calibrate`` on the main parser's subparsers."""
    compare = sub.add_parser("compare", help="compare two or more runs against the first; write markdown, JSON, PNG")
    compare.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="a run folder or its results.json (the first is the baseline; one run alone: the newest run under reports/reference/ is)")
    compare.add_argument("--out", type=Path, help="output folder (default: reports/compare-<UTC time>)")
    compare.add_argument("--fail-if-slower", type=argtypes.percent, metavar="PCT", help="exit 1 if a run is slower than the first by more than PCT%% beyond noise")
    compare.add_argument("--fail-if-less-accurate", type=argtypes.points, metavar="PP", help="exit 1 if a run's test accuracy is more than PP points lower, beyond noise")
    compare.add_argument("--noise-band", type=Path, metavar="FILE",
                         help="the run-to-run noise band that judges single-value figures (default: the packaged "
                              "mnist_mlp/compare/noise_band.json; made by benchmarks/noise_runs.sh)")
    compare.add_argument("--json", action="store_true", help="print the comparison as one JSON object")
    compare.set_defaults(handler=cmd_compare)

    runs = sub.add_parser("runs", help="list runs newest first and rewrite reports/index.md")
    runs.add_argument("--reports", type=Path, default=DEFAULT_REPORTS, help="the reports folder (default: reports)")
    runs.add_argument("--json", action="store_true", help="print the runs as one JSON object")
    runs.set_defaults(handler=cmd_runs)

    gate = sub.add_parser("gate", help="the accuracy gate over a run's seeds; records it in results.json and gate.md")
    gate.add_argument("run", type=Path, metavar="RUN_DIR", help="a run folder or its results.json")
    gate.add_argument("--thresholds", type=Path, help="thresholds file (default: the committed calibration)")
    gate.add_argument("--json", action="store_true", help="print the decision as one JSON object")
    gate.set_defaults(handler=cmd_gate)

    calibrate = sub.add_parser("calibrate", help="derive the gate's thresholds from calibration runs' per-seed accuracies")
    calibrate.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR", help="calibration run folders (one workload)")
    calibrate.add_argument("--accuracies", type=Path, help='JSON {"label", "workload", "accuracies": {backend: [fractions]}}')
    calibrate.add_argument("--label", help="what the calibration is (stored in the file)")
    calibrate.add_argument("--provisional", action="store_true", help="mark the thresholds provisional")
    calibrate.add_argument(
        "--write", type=Path, action="append",
        help="thresholds file to write, repeatable (default: the files the gate reads, "
        "reports/calibration/thresholds.json of the checkout and the packaged mnist_mlp/thresholds.json)",
    )
    calibrate.add_argument("--json", action="store_true", help="print the thresholds document")
    calibrate.set_defaults(handler=cmd_calibrate)

