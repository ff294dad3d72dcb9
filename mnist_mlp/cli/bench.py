"""``mnist-mlp bench`` and ``mnist-mlp report``: parse, run the matrix, print the summary.

Registered by ``mnist_mlp.cli.main`` through ``add_commands`` (see ``EXTENSION_MODULES`` there).
Exit codes: 0 every case ok or skipped, 2 bad arguments or a bad results file (or a run that
cannot be resumed here), 3 some case failed or timed out (the others are saved), 4 the output
directory is not writable, 130 Ctrl-C, 143 SIGTERM (a scheduler's stop, handled as Ctrl-C is:
cases marked interrupted, reports written, the resume command printed).

The workload options default to None ("not given"), so that ``--resume`` can tell an option the
user gave (which must agree with the run's) from one left out (which the run supplies).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from mnist_mlp.cli import argtypes
from mnist_mlp.backends import ALL as ALL_BACKENDS, RUNTIMES
from mnist_mlp.bench.profiles import MAX_BATCH_SIZE, MAX_TRAIN_SAMPLES, PROFILES
from mnist_mlp.backends.base import PRECISIONS
from mnist_mlp.config import DEVICES
from mnist_mlp.bench.options import options_from_args
from mnist_mlp.errors import UsageError
from mnist_mlp.native.base import IMPLEMENTATIONS


def add_commands(sub: Any) -> None:
    bench = sub.add_parser(
        "bench", help="benchmark training, inference and accuracy for every backend x device",
        description="Run every backend x device case in a fresh pytest-benchmark process; write "
        "results.json, raw/*.json, report.md and figures under OUT/<UTC time>_<host>/.",
    )
    add_workload_arguments(bench)
    bench.add_argument("--repeats", type=argtypes.positive_int,
                       help="run each case N times, each in a fresh process, round-robin over the cases (not N in a "
                            "row), and keep every repeat's figures: compare then tests them as samples (default: 1)")
    bench.add_argument("--no-gate", action="store_true", help="skip the accuracy gate that ends a full-profile run")
    bench.add_argument("--out", type=Path, help="where run folders go (default: reports/)")
    bench.add_argument("--data-dir", type=Path, help="MNIST directory (default: $MNIST_DATA_DIR, else Keras' cache)")
    bench.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue that run: keep its ok and skipped cases as they are, run the others; "
                       "its workload is the run's, and it refuses (exit 2) on another machine, software, "
                       "version or dataset")
    bench.set_defaults(handler=cmd_bench)

    report = sub.add_parser("report", help="draw a run's tables and figures again from its results.json")
    report.add_argument("run_dir", type=Path, help="a run folder (or its results.json)")
    report.set_defaults(handler=cmd_report)


def add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    """What a run measures (backends, devices, profile, workload, implementations, repeats): shared
    by ``bench`` and ``ab``, which plans its cases the same way."""
    all_backends = ALL_BACKENDS
    parser.add_argument("--backends", type=argtypes.choices(all_backends, "--backends"),
                       help=f"comma-separated, from {','.join(all_backends)} (default: all)")
    parser.add_argument("--devices", type=argtypes.choices(DEVICES, "--devices"),
                       help="comma-separated cpu,gpu (default: both; gpu is skipped where absent)")
    parser.add_argument("--profile", choices=tuple(PROFILES),
                       help="quick: smoke run, 2 epochs on 5,000 images, one process per framework; full: the seed workload, 25 epochs, "
                            "a process per case (default); open: the open division, each implementation's recipe raced to 97.9%% test accuracy, 10 seeds")
    parser.add_argument("--recipe", type=Path, metavar="FILE",
                       help="--profile open: race the recipes in FILE (one recipe, or a recipe book like mnist_mlp/race/recipes.json)")
    parser.add_argument("--seed-recipe-seeds", type=argtypes.non_negative_int, metavar="N",
                       help="--profile open: seeds of the seed's own recipe (25 epochs) raced beside each case for the ratio (default 1; 0: none)")
    parser.add_argument("--seeds", type=argtypes.positive_int, help="training rounds, seeds 0..N-1 (default: 1)")
    parser.add_argument("--first-seed", type=argtypes.non_negative_int,
                       help="start the seeds here: --first-seed 10 --seeds 20 trains seeds 10..29 (default: 0)")
    parser.add_argument("--epochs", type=argtypes.positive_int, help="override the profile's epochs")
    parser.add_argument("--train-samples", type=argtypes.int_in(10, MAX_TRAIN_SAMPLES, " (the training set)"),
                       help=f"train on the first N training images (quick: 5000; full: all {MAX_TRAIN_SAMPLES})")
    parser.add_argument("--batch-sizes", type=argtypes.int_list(1, MAX_BATCH_SIZE, " (the test set)"),
                       help="inference batch sizes, e.g. 1,32,256,1024,10000")
    parser.add_argument("--target-accuracy", type=argtypes.fraction, help="validation accuracy for time-to-target (default 0.975)")
    parser.add_argument("--jit-compile", type=argtypes.jit_list, metavar="auto,true,false",
                       help="Keras compile jit_compile: one value or several, each a case of its own (default: auto)")
    parser.add_argument("--steps-per-execution", type=argtypes.int_list(1, 100_000), metavar="N[,N...]",
                       help="Keras compile steps_per_execution: one value or several, each a case of its own (default: 1)")
    parser.add_argument("--learning-rate", type=argtypes.positive_float, help="Adam learning rate (default 0.001, the seed's)")
    parser.add_argument("--unscaled-inputs", action="store_true",
                       help="train on raw 0-255 pixels: a deliberately broken variant, to show the accuracy gate")
    parser.add_argument("--timeout", type=argtypes.positive_float, help="wall-clock seconds per case (default: quick 240 s, full 300 s, plus 60/30 s per seed x epoch)")
    parser.add_argument("--precision", type=argtypes.choices(PRECISIONS, "--precision"),
                       help="matmul precision on GPUs: fp32 (TF32 off, the default) and/or tf32, each a case of its own")
    parser.add_argument("--data-parallel", type=argtypes.int_list(1, 4096), metavar="N[,N...]",
                       help="add data-parallel cases on N devices each (e.g. 1,2,4: jax-cpu-dp2 ...), "
                       "through each framework's own engine; on a CPU the devices are simulated")
    parser.add_argument("--scaling", choices=("strong", "weak"),
                       help="data-parallel cases: strong keeps the global batch 32 (default), weak gives 32 to each device")
    parser.add_argument("--lr-rule", choices=("none", "linear", "sqrt"),
                       help="weak scaling: learning rate x1, xN or x sqrt(N) (default: none)")
    parser.add_argument("--implementations", type=argtypes.choices(IMPLEMENTATIONS, "--implementations"),
                       metavar="keras,native,native-fast",
                       help="whose training code each case runs: Keras' trainer, the framework's own plain code, its "
                            "fastest form (mnist_mlp.native; default: all three)")
    runtimes = ("none", *RUNTIMES)
    parser.add_argument("--runtimes", type=argtypes.choices(runtimes, "--runtimes"), metavar=",".join(RUNTIMES),
                       help="serving cases: the exported model on these runtimes (default: every one installed, or none "
                            "where --backends is given; one named but not installed is skipped with the reason; none: no serving case)")


def cmd_bench(args: argparse.Namespace) -> int:
    from mnist_mlp.bench.progress import TerminalReporter
    from mnist_mlp.bench.runner import run_benchmarks
    from mnist_mlp.report import tables
    from mnist_mlp.report.render import render_beside

    from mnist_mlp import results
    from mnist_mlp.errors import EXIT_GATE_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED
    from mnist_mlp.runs import write_index

    started = time.perf_counter()
    state = None
    if args.resume is not None:
        state = _prepare_resume(args)
        if state is None:
            return EXIT_OK
        from mnist_mlp.bench.resume import describe

        options = state.options
        print(describe(state), flush=True)
    else:
        options = options_from_args(args)
    reporter = TerminalReporter()
    try:
        outcome = run_benchmarks(options, reporter=reporter, load_source="psutil", opening_check_s=1.0, resume=state)
    finally:
        reporter.close()
    cases_done = time.perf_counter()
    exit_code = outcome.exit_code
    gate = None
    stopped = exit_code in (EXIT_INTERRUPTED, EXIT_TERMINATED)
    if options.profile.name == "full" and not args.no_gate and not stopped:
        from mnist_mlp.gate.check import gate_run
        from mnist_mlp.report.gate_text import gate_markdown, write_gate_file

        gate = gate_run(outcome.run_dir)  # records its decision in results.json
        write_gate_file(gate, outcome.run_dir)
        outcome.run["gate"] = gate.to_dict()
    from mnist_mlp.cli.dashboard import refresh as refresh_dashboard

    # the dashboard, like the index, over every run, this one included (its results.json is saved
    # by now), drawn alongside the report's figures
    dashboard = render_beside(outcome.run, outcome.run_dir, {"dashboard": (refresh_dashboard, (options.out,))})[1]["dashboard"]
    index = write_index(options.out)
    timing = _timing(started, cases_done, reporter.cases_started_at)
    outcome.run["timing"] = timing
    results.save(outcome.run, outcome.run_dir)
    print()
    print(tables.render(tables.summary_table(outcome.run), "simple"))
    print()
    _print_keras_cost(outcome.run)
    if gate is not None:
        print(gate_markdown(gate))
        if not gate.passed:
            print(f"mnist-mlp: gate failed: {'; '.join(gate.failures)}", file=sys.stderr)
            if exit_code == EXIT_OK:
                exit_code = EXIT_GATE_FAILED
    print(f"run {outcome.run['status']}: {outcome.run_dir / 'report.md'} (all runs: {index})")
    print(dashboard)
    print(
        f"took {timing['total_s']:.1f} s: set-up {timing['setup_s']:.1f} s (data, machine check), "
        f"cases {timing['cases_s']:.1f} s, reports {timing['report_s']:.1f} s (figures, report.md, dashboard, index)"
    )
    if stopped:
        how = "by SIGTERM" if exit_code == EXIT_TERMINATED else "by Ctrl-C"
        print(f"mnist-mlp: interrupted {how}; finished cases were saved; continue with: "
              f"mnist-mlp bench --resume {outcome.run_dir}", file=sys.stderr)
    return exit_code


def _print_keras_cost(run: dict[str, Any]) -> None:
    """The 'What Keras costs' table under the summary, when the run has native cases."""
    from mnist_mlp.report import keras_cost, tables

    table = keras_cost.table(run)
    if table[1]:
        print("What Keras costs (steady ms/step; see report.md for the notes):")
        print(tables.render(table, "simple"))
        print()


def _timing(started: float, cases_done: float, first_case_at: float | None) -> dict[str, float]:
    """Where the parent's time went: set-up before the first case (data, the machine's load
    check, its description), the cases (each case's own phases are in its ``phase_seconds``), the reports."""
    now = time.perf_counter()
    first = first_case_at if first_case_at is not None else cases_done
    return {
        "setup_s": round(first - started, 3),
        "cases_s": round(cases_done - first, 3),
        "report_s": round(now - cases_done, 3),
        "total_s": round(now - started, 3),
    }


def options_given(args: argparse.Namespace) -> dict[str, Any]:
    """The workload options the user gave: not None and not an unset flag (False); a number 0
    (``--first-seed 0``) is given. With ``--resume`` these must agree with the run's."""
    from mnist_mlp.bench import resume

    return {name: value for name in resume.WORKLOAD_OPTIONS
            if (value := getattr(args, name, None)) is not None and value is not False}


def _prepare_resume(args: argparse.Namespace) -> Any:
    """The run to continue (``resume.prepare``), or None when it is complete (nothing to do)."""
    from mnist_mlp.bench import resume

    run_dir = args.resume.parent if args.resume.name == "results.json" and args.resume.is_file() else args.resume
    if args.out is not None and args.out.resolve() != run_dir.resolve().parent:
        raise UsageError(f"--out {args.out}: a resumed run stays in its folder ({run_dir}); leave --out out")
    state = resume.prepare(run_dir, given=options_given(args), data_dir=str(args.data_dir) if args.data_dir else None)
    if not state.rerun and state.run["status"] == "complete":
        state.folder.release()
        print(f"{run_dir}: every case ended ok or skipped; nothing to resume")
        return None
    return state


def cmd_report(args: argparse.Namespace) -> int:
    from mnist_mlp import atomic, results
    from mnist_mlp.report import tables
    from mnist_mlp.report.render import render_report

    run = results.load(args.run_dir)
    run_dir = args.run_dir if args.run_dir.is_dir() else args.run_dir.parent
    atomic.ensure_writable_dir(run_dir)
    written = render_report(run, run_dir)
    print(tables.render(tables.summary_table(run), "simple"))
    print()
    print("wrote " + ", ".join(str(path) for path in written))
    return 0
