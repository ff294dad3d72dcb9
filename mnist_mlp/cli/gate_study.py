"""``benchmarks/gate_power.py``: train the power study, and write the power and false-alarm reports.

Parsing and printing only; the studies are ``power_study``, ``gate_power`` and
``gate_false_alarms``, their Markdown and figure are in ``report/``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Sequence

from mnist_mlp import atomic

from mnist_mlp.gate import calibration

from mnist_mlp.gate import regressions
from mnist_mlp.config import BACKENDS
from mnist_mlp.cli.output import run_handler
from mnist_mlp.errors import UsageError

POWER_MD, POWER_PNG, FALSE_ALARMS_MD = "power.md", "power.png", "false_alarms.md"
SCRIPT = "python benchmarks/gate_power.py"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train the healthy control and each regression on every seed")
    run.add_argument("regressions", nargs="+", metavar="KIND[=S1,S2,...]",
                     help=f"healthy, or one of {', '.join(k for k in regressions.KINDS if k != 'healthy')} with strengths")
    run.add_argument("--out", type=Path, required=True, help="the study's folder (accuracies.json)")
    run.add_argument("--seeds", default="10-19", help="FIRST-LAST or a list (default 10-19)")
    run.add_argument("--backend", default="jax", choices=BACKENDS)
    run.add_argument("--data-dir", help="MNIST directory (default: $MNIST_DATA_DIR, else Keras' cache)")
    report = sub.add_parser("report", help="power.md and power.png from a study's accuracies.json")
    report.add_argument("folder", type=Path)
    report.add_argument("--thresholds", type=Path, help="thresholds file (default: the shipped one)")
    alarms = sub.add_parser("false-alarms", help="false_alarms.md from healthy runs of unseen seeds")
    alarms.add_argument("runs", nargs="+", type=Path, help="run folders (their results.json)")
    alarms.add_argument("--thresholds", type=Path, help="thresholds file (default: the shipped one)")
    alarms.add_argument("--out", type=Path, help="where false_alarms.md goes (default: the first run's parent folder)")
    return parser.parse_args(argv)


def _command_line(argv: Sequence[str]) -> str:
    return " ".join([SCRIPT, *map(shlex.quote, argv)])


def cmd_run(args: argparse.Namespace) -> int:
    from mnist_mlp.gate.power_study import parse_seeds, run_study

    wanted = [r for text in args.regressions for r in regressions.parse(text)]
    if not any(r.kind == "healthy" for r in wanted) and not (args.out / "accuracies.json").exists():
        raise UsageError("regressions: add `healthy`: every drop is measured against the healthy control on the same seeds")
    run_study(args.out, wanted, parse_seeds(args.seeds), args.backend, args.data_dir)
    return 0


def cmd_report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from mnist_mlp.gate import power as gate_power
    from mnist_mlp.gate import power_study
    from mnist_mlp.report.power_plot import plot_power
    from mnist_mlp.report.power_text import power_markdown, summary_table

    study = power_study.load(args.folder)
    thresholds, _ = calibration.load(args.thresholds)
    try:
        report = gate_power.analyse(study, thresholds)
    except ValueError as exc:
        raise UsageError(f"{args.folder}: {exc}") from None
    folder = args.folder.parent if args.folder.suffix == ".json" else args.folder
    _, params = gate_power.gate_params(study["backend"], thresholds)
    plot_power(report, dict(params), folder / POWER_PNG)
    atomic.write_text(folder / POWER_MD, power_markdown(report, _command_line(argv), POWER_PNG))
    print(summary_table(report))
    print(f"\nwrote {folder / POWER_MD}, {folder / POWER_PNG}")
    return 0


def cmd_false_alarms(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from mnist_mlp.gate import false_alarms as gate_false_alarms
    from mnist_mlp.report.false_alarm_text import counts_table, false_alarm_markdown

    thresholds, _ = calibration.load(args.thresholds)
    report = gate_false_alarms.analyse(gate_false_alarms.load_runs(args.runs), thresholds)
    if not report.seeds:
        raise UsageError(f"runs {' '.join(map(str, args.runs))}: no Keras case in them trained a seed; nothing to judge")
    out = args.out or gate_false_alarms.run_folder(args.runs[0]).resolve().parent
    atomic.write_text(out / FALSE_ALARMS_MD, false_alarm_markdown(report, _command_line(argv)))
    print(counts_table(report))
    print(f"\nwrote {out / FALSE_ALARMS_MD}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    commands = {"run": lambda: cmd_run(args), "report": lambda: cmd_report(args, argv)}
    handler = commands.get(args.command, lambda: cmd_false_alarms(args, argv))
    return run_handler(handler, error_prefix="error: ", interrupted="interrupted; what finished is saved")
