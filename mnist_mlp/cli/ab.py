"""``mnist-mlp ab``: did this change make it slower? Both sides, alternately, in one session.

Registered by ``mnist_mlp.cli.main`` through ``add_commands``. Exit codes: 0 no confirmed slowdown
beyond ``--fail-if-slower`` (or none asked for), 1 a confirmed slowdown beyond it, 2 bad
arguments (a side that does not start a Python with the suite), 3 a case failed on a side (the
rest is saved and judged), 4 the output folder is not writable, 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mnist_mlp.cli import argtypes
from mnist_mlp.cli.bench import add_workload_arguments

#: pairs by default: enough for the paired test to see a 2x slowdown on every figure of the quick profile
DEFAULT_PAIRS = 5


def add_commands(sub: Any) -> None:
    ab = sub.add_parser(
        "ab", help="A/B: run every case on two Pythons alternately, N pairs, and judge each figure on its pairs",
        description="Each side is a command that starts a Python with the suite installed (a venv's python, another "
        "checkout's, `env VAR=1 python`). Every case runs on A and on B back to back, each in a fresh process, "
        "--pairs times (ABBA order); each figure is judged by a paired t-test on the log ratios B/A, "
        "Benjamini-Hochberg over all figures. Writes OUT/ab-<UTC time>_<host>/{A,B,ab.json,ab.md}.",
    )
    ab.add_argument("--a", required=True, metavar="CMD", help="side A's Python, e.g. /path/to/venv-a/bin/python")
    ab.add_argument("--b", required=True, metavar="CMD", help="side B's Python, e.g. 'env OMP_NUM_THREADS=1 python'")
    ab.add_argument("--pairs", type=argtypes.positive_int, default=DEFAULT_PAIRS,
                    help=f"how many times each case runs on each side (default {DEFAULT_PAIRS})")
    ab.add_argument("--fail-if-slower", type=argtypes.positive_float, metavar="PCT",
                    help="exit 1 on a confirmed slowdown of B larger than PCT percent (significant after the "
                         "correction and beyond the factor)")
    ab.add_argument("--factor", type=argtypes.positive_float, metavar="FRACTION",
                    help="the smallest change that counts, as a fraction of A's figure (default 0.05, as asv's --factor 1.05)")
    add_workload_arguments(ab)
    ab.add_argument("--out", type=Path, help="where the session folder goes (default: reports/)")
    ab.add_argument("--data-dir", type=Path, help="MNIST directory (default: $MNIST_DATA_DIR, else Keras' cache)")
    ab.set_defaults(handler=cmd_ab)


def cmd_ab(args: argparse.Namespace) -> int:
    from mnist_mlp import atomic
    from mnist_mlp.bench.ab import run_ab
    from mnist_mlp.bench.machine import host_name
    from mnist_mlp.bench.options import options_from_args
    from mnist_mlp.bench.progress import TerminalReporter
    from mnist_mlp.bench.sides import describe_side
    from mnist_mlp.compare.judge import MIN_RELATIVE_CHANGE
    from mnist_mlp.compare.paired import judge_pairs
    from mnist_mlp.errors import EXIT_CASES_FAILED, EXIT_GATE_FAILED, EXIT_OK
    from mnist_mlp.report import tables
    from mnist_mlp.report.ab_text import ab_markdown, summary, table

    options = options_from_args(args)
    sides = [describe_side("A", args.a), describe_side("B", args.b)]
    reporter = TerminalReporter()
    try:
        outcome = run_ab(options, sides, args.pairs, reporter=reporter, load_source="psutil")
    finally:
        reporter.close()
    factor = args.factor if args.factor is not None else MIN_RELATIVE_CHANGE
    judgment = judge_pairs(outcome.runs["A"], outcome.runs["B"], factor=factor)
    slowdowns = judgment.slowdowns(args.fail_if_slower) if args.fail_if_slower is not None else []
    session = {
        "pairs": args.pairs, "profile": options.profile_label, "machine": host_name(),
        "sides": {side.label: {"command": side.command, "commit": side.facts.get("commit"),
                               "software": side.facts.get("software"), "run_dir": str(outcome.run_dirs[side.label])}
                  for side in sides},
    }
    document = {
        "schema": "mnist-mlp/ab", "version": 1, **session, "factor": factor, "fail_if_slower": args.fail_if_slower,
        "interrupted": outcome.interrupted, "slowdowns": slowdowns,
        "rows": [{"case": row.case, "metric": row.metric.key, "label": row.metric.label, "passes": row.passes, "unit": row.metric.unit,
                  "a": row.a, "b": row.b, "ratio": row.ratio, "interval": [row.low, row.high], "p_value": row.p_value,
                  "q_value": row.q_value, "verdict": row.label, "why": row.why or None} for row in judgment.rows],
        "missing": judgment.missing,
    }
    atomic.write_text(outcome.session_dir / "ab.json", json.dumps(document, indent=1, default=str) + "\n")
    atomic.write_text(outcome.session_dir / "ab.md", ab_markdown(judgment, session, args.fail_if_slower, slowdowns))
    print()
    print(tables.render(table(judgment), "simple"))
    print()
    print(summary(judgment))
    for line in slowdowns:
        print(f"mnist-mlp: slower: {line}")
    print(f"wrote {outcome.session_dir / 'ab.md'} (runs: {outcome.run_dirs['A']}, {outcome.run_dirs['B']})")
    if outcome.exit_code not in (EXIT_OK, EXIT_CASES_FAILED):
        return outcome.exit_code  # interrupted: what finished is saved and judged above
    if slowdowns:
        return EXIT_GATE_FAILED
    return outcome.exit_code
