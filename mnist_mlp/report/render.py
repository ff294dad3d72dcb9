"""Write a run's report: the figures, then ``report.md`` with every table and the figures inline.

Reads only the results dict (what ``results.json`` holds), so ``mnist-mlp report RUN_DIR`` can
draw a report again, on another machine, long after the run. Figures come before report.md so
the Markdown never links a picture that failed to appear; each file is written atomically.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

from mnist_mlp import atomic
from mnist_mlp.report import memory_text, plots, serving_text, tables

log = logging.getLogger(__name__)

REPORT_FILE = "report.md"
FIGURES = {
    "curves": "curves.png",
    "throughput": "throughput.png",
    "training_time": "training_time.png",
    "confusion": "confusion_matrix.png",
    "scaling": "scaling.png",
    "keras_cost": "keras_cost.png",
    "time_to_accuracy": "time_to_accuracy.png",
    "serving": "serving.png",
}
CAPTIONS = {
    "curves": "Loss and accuracy per epoch (seed 0), train (solid) and validation (dashed)",
    "throughput": "Inference throughput against batch size (log-log); the dotted lines are the measured FP32 matmul peaks",
    "training_time": "Training wall time per backend; error bars span the seeds",
    "confusion": "Confusion matrix of the test set (seed-0 model)",
    "scaling": "Data-parallel training throughput against N devices; dashed: ideal linear scaling from one device",
    "keras_cost": "What Keras costs: steady ms per training step of Keras, native and fast code per backend (log); dotted: the FLOP floor of a step",
    "time_to_accuracy": "Time to accuracy (open division): test accuracy after each epoch against the race's clock, every seed; dashed: the target",
    "serving": "Serving: ms per batch and samples/s against batch size (log-log), each runtime (solid) beside each framework's direct call and NumPy (dashed)",
}


def draw_figures(run: dict[str, Any], run_dir: Path) -> dict[str, Path]:
    """Every figure the run has data for, by name (``figure_jobs``, drawn by ``draw``)."""
    return draw(figure_jobs(run, run_dir))


def draw(jobs: dict[str, tuple[Callable[..., Path], tuple]]) -> dict[str, Path]:
    """Call each job, two at a time in forked processes where the platform forks, else in turn.

    The figures are independent, nothing is timed while a report is drawn, and drawing is
    single-threaded Python (matplotlib's text layout: about 1.7 s for the quick profile's eleven
    confusion matrices on the 2-core VM), so two cores draw it in about half the time. A job that
    fails raises here as it would in turn."""
    workers = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if len(jobs) < 2 or workers < 2 or not can_fork():
        return {name: function(*args) for name, (function, args) in jobs.items()}
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {name: pool.submit(function, *args) for name, (function, args) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


#: frameworks whose own threads make a fork unsafe: a lock one of them holds stays held in the child
THREADED_FRAMEWORKS = ("jax", "tensorflow", "torch")


def can_fork() -> bool:
    """Whether this process may fork to draw: the platform forks, and no other thread, of Python's
    or of a framework imported here (a test's process, a training command), could hold a lock.
    ``bench``'s parent never imports a framework; it draws in parallel."""
    return ("fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
            and not any(name in sys.modules for name in THREADED_FRAMEWORKS))


def figure_jobs(run: dict[str, Any], run_dir: Path) -> dict[str, tuple[Callable[..., Path], tuple]]:
    """(function, arguments) of every figure the run has data for, by name; each returns its path."""
    cases = [case for case in run.get("cases", []) if case.get("status") != "skipped"]
    jobs: dict[str, tuple[Callable[..., Path], tuple]] = {}
    histories = {
        case["id"]: case["training"]["per_seed"][0]["history"]
        for case in cases if (case.get("training") or {}).get("per_seed")
    }
    if histories:
        jobs["curves"] = (plots.plot_training_curves, (histories, run_dir / FIGURES["curves"]))
    series: dict[str, list[tuple[int, float]]] = {}
    for case in cases:
        for row in case.get("inference") or []:
            series.setdefault(f"{case['id']} {row['path']}", []).append((row["batch_size"], row["samples_per_second"]))
    if series:
        peaks = {f"{label} matmul": value for label, value in tables.peak_samples_per_second(run).items()}
        jobs["throughput"] = (plots.plot_throughput, (series, peaks, run_dir / FIGURES["throughput"]))
    times = {
        case["id"]: case["training"]["wall_seconds"]["samples"]
        for case in cases if ((case.get("training") or {}).get("wall_seconds") or {}).get("samples")
    }
    if times:
        first = {
            case["id"]: case["training"]["first_epoch_seconds"]["mean"]
            for case in cases if ((case.get("training") or {}).get("first_epoch_seconds") or {}).get("mean") is not None
        }
        jobs["training_time"] = (plots.plot_training_time, (times, run_dir / FIGURES["training_time"], first))
    matrices = {case["id"]: case["confusion_matrix"] for case in cases if case.get("confusion_matrix")}
    if matrices:
        jobs["confusion"] = (plots.plot_confusion_matrices, (matrices, run_dir / FIGURES["confusion"]))
    scaling: dict[str, list[tuple[int, float]]] = {}
    simulated = False
    for case, facts in tables.data_parallel_cases(run):
        if facts.get("samples_per_second"):
            label = f"{case['backend']}-{case['device']} {facts.get('scaling')}"
            scaling.setdefault(label, []).append((int(facts["devices"]), float(facts["samples_per_second"])))
            simulated = simulated or bool(facts.get("simulated"))
    if scaling:
        jobs["scaling"] = (functools.partial(plots.plot_scaling, simulated=simulated), (scaling, run_dir / FIGURES["scaling"]))
    from mnist_mlp.report import keras_cost

    if keras_cost.rows(run):  # only runs with native cases
        jobs["keras_cost"] = (keras_cost.plot, (run, run_dir / FIGURES["keras_cost"]))
    from mnist_mlp.report import race_text

    if race_text.race_cases(run):
        jobs["time_to_accuracy"] = (race_text.plot, (run, run_dir / FIGURES["time_to_accuracy"]))
    if serving_text.serving_cases(run):
        jobs["serving"] = (serving_text.plot, (run, run_dir / FIGURES["serving"]))
    return jobs


def _subset(train: dict[str, Any]) -> str:
    """' on the first N training images (a smoke run, not the seed workload)' when cut, else ''."""
    count = train.get("train_samples")
    if not count:
        return ""
    return f" on the first {count:,} training images only (a smoke run, not the seed workload of all 60,000)"


def markdown(run: dict[str, Any], figures: dict[str, Path]) -> str:
    """The report's Markdown: header, each table, the figures, and failure tails."""
    workload = run.get("workload") or {}
    train = workload.get("train") or {}
    tool = run.get("tool") or {}
    lines = [
        f"# mnist-mlp benchmark {run['run_id']}",
        "",
        f"- created (UTC): {run['created_utc']}; status: **{run['status']}**; profile: {run.get('profile', '–')}",
        _workload_line(workload, train),
        f"- mnist-mlp {tool.get('version', '–')}, commit {tool.get('commit') or '–'}{' (dirty)' if tool.get('dirty') else ''}",
        "",
        "Samples/s is the batch size over the median seconds per batch. GFLOP/s count the matrix multiplications "
        "of the model's layers as the case derived them from the built model (`flops` in results.json: "
        f"{_flops_text(run)}); % of peak is against the FP32 matmul peak that the case's own framework reached "
        "on its own device, probed right before and right after the case (the higher of the two; probes more than "
        "10% apart mark the case *unstable*). While a case runs, the parent samples the machine: when other "
        "processes took more than a tenth of a core, or the hypervisor stole more than 3% of the CPU, the case is "
        "marked *busy* (see Machine state per case) and its timings are not to be trusted.",
        "",
        "Cold and warm: all seeds of a case run in one process, one after another, so the first seed pays "
        "tracing, compilation and cold caches (what a user's own script pays, shown as *cold*) and the later seeds "
        "do not (*warm*, mean ± sd over those seeds). The two are reported apart rather than averaged; one "
        "process per seed would give cold statistics over several seeds but cost a framework start-up per seed. "
        "Steady-state figures are the mean of epochs 2..N; s/epoch includes validation, ms/step and training "
        "GFLOP/s count the training steps alone. Wall time covers seeding, building, fit and the test "
        "evaluation; time to target counts whole epochs, validation included.",
        "",
    ]
    for name, text in serving_text.with_serving(memory_text.with_memory(tables.format_all(run), run), run).items():
        lines += [f"## {name}", "", text, ""]
    if figures:
        lines += ["## Figures", ""]
        for name, path in figures.items():
            lines += [f"![{CAPTIONS[name]}]({path.name})", "", f"*{CAPTIONS[name]}*", ""]
    failed = [case for case in run.get("cases", []) if case.get("stderr_tail")]
    for case in failed:
        tail = "\n".join(case["stderr_tail"].splitlines()[-25:])
        lines += [f"## {case['id']}: {case['status']} ({case.get('reason') or ''})", "", "```text", tail, "```", ""]
    return "\n".join(lines)


def _workload_line(workload: dict[str, Any], train: dict[str, Any]) -> str:
    if (workload.get("profile") or {}).get("race"):
        profile = workload["profile"]
        return (f"- workload: the open division: each case races its recipe (in the section below) to "
                f"{profile.get('target_accuracy', 0) * 100:.1f}% test accuracy, seeds {workload.get('seeds', '–')}; "
                f"{profile.get('seed_recipe_seeds', 0)} seed(s) of the seed's own recipe beside it; no inference")
    return (f"- workload: {train.get('epochs', '–')} epochs{_subset(train)}, batch {train.get('batch_size', '–')}, validation split "
            f"{train.get('validation_split', '–')}, jit_compile={train.get('jit_compile', '–')}, "
            f"steps_per_execution={train.get('steps_per_execution', '–')}, seeds {workload.get('seeds', '–')}, "
            f"inference batch sizes {workload.get('batch_sizes', '–')}")


def _flops_text(run: dict[str, Any]) -> str:
    from mnist_mlp.flops import seed_model

    flops = next((c["flops"] for c in run.get("cases", []) if (c.get("flops") or {}).get("train_per_sample")), None)
    flops = flops or seed_model().to_dict()
    return (f"{flops['forward_per_sample']:,} per forward sample, {flops['train_per_sample']:,} per training sample "
            f"(forward, weight gradients, and input gradients of every layer but the first)")


def render_report(run: dict[str, Any], run_dir: str | Path) -> list[Path]:
    """Draw the figures and write report.md into ``run_dir``; return the files written."""
    return render_beside(run, run_dir, {})[0]


def render_beside(run: dict[str, Any], run_dir: str | Path, beside: dict[str, tuple[Callable[..., Any], tuple]],
                  ) -> tuple[list[Path], dict[str, Any]]:
    """``render_report`` with other independent jobs (name: (function, arguments)) run alongside the
    figures (``draw``; ``bench`` draws its dashboard there): (the files written, the jobs' results)."""
    run_dir = Path(run_dir)
    jobs = figure_jobs(run, run_dir)
    done = draw({**jobs, **beside})
    figures = {name: done[name] for name in jobs}
    report = atomic.write_text(run_dir / REPORT_FILE, markdown(run, figures))
    log.info("wrote %s and %d figures", report, len(figures))
    return [*figures.values(), report], {name: done[name] for name in beside}
