"""One case of a run: its settings file, its child process, and the record it leaves.

The runner (``bench.runner``) decides the order of cases and keeps results.json; this module
runs one of them: it writes the ``CaseConfig`` the child reads, starts the child with a
wall-clock limit while the load monitor samples the machine, and turns what the child left
(raw pytest-benchmark JSON, a skip outcome, an exit code, a timeout) into the case's record,
with the machine's verdict (busy, unstable) beside its figures.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable

from mnist_mlp.bench import collect, load, progress_file, stopping
from mnist_mlp.bench.caseconfig import ENV_VAR as CASE_ENV_VAR, CaseConfig
from mnist_mlp.bench.child import SAFE_PATH, ChildInterrupted, describe_returncode, run_child, tail
from mnist_mlp.bench.plan import BenchOptions, CasePlan
from mnist_mlp.parallel import plan as parallel

log = logging.getLogger(__name__)

ChildCommand = Callable[[CaseConfig, Path, Path], list[str]]
#: variant entries that are case settings, not ``TrainConfig`` fields
CASE_OPTIONS = ("precision", "implementation", *parallel.VARIANT_KEYS)


class _Interrupted(Exception):
    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__("interrupted")
        self.record = record


def _case_config(
    plan: CasePlan, options: BenchOptions, work: Path, raw_dir: Path, weights: tuple[str, str] | None,
    key: str | None = None,
) -> CaseConfig:
    """The child's settings; ``key`` names its files (``torch-cpu.r2`` for a second repeat; default the case id)."""
    profile = options.profile
    key = key or plan.case_id
    return CaseConfig(
        case_id=plan.case_id,
        backend=plan.backend,
        device=plan.device,
        train=options.train.replace(**{k: v for k, v in plan.variant if k not in CASE_OPTIONS}).to_dict(),
        data_parallel=parallel.case_options(plan.variant),
        precision=dict(plan.variant).get("precision", options.precision),
        implementation=dict(plan.variant).get("implementation", "keras"),
        seeds=tuple(options.seeds),
        batch_sizes=profile.batch_sizes,
        target_accuracy=profile.target_accuracy,
        latency_rounds=profile.latency_rounds,
        latency_max_rounds=profile.latency_max_rounds,
        latency_budget_s=profile.latency_budget_s,
        passes=profile.passes,
        training_check=profile.training_check,
        peak_probe={"repeats": profile.peak_repeats, "budget_s": profile.peak_budget_s},
        data_dir=str(options.data_dir) if options.data_dir else None,
        weights_in=weights[0] if not plan.trains and weights else None,
        weights_from=weights[1] if not plan.trains and weights else None,
        weights_out=None if not plan.serves_weights else str(work / f"{key}.weights.npz"),
        progress_path=str(work / f"{key}.progress"),
        outcome_path=str(work / f"{key}.outcome.json"),
        training_path=None if not plan.trains else str(collect.training_side_path(raw_dir / f"{key}.json")),
        race=_race_options(plan, options),
        artifact_dir=str(work / f"{key}.artifact"),
        cold_start=profile.cold_start,
    )


def _race_options(plan: CasePlan, options: BenchOptions) -> dict[str, Any] | None:
    """The open division's part of a case: its recipe from the recipe book (``--recipe``)."""
    if not options.profile.race:
        return None
    from mnist_mlp.race.recipe import load_recipes

    book = load_recipes(options.recipe_file)
    implementation = dict(plan.variant).get("implementation", "keras")
    return {"recipe": book.for_case(plan.case_id, implementation).to_dict(), "source": book.path, "chosen_by": book.chosen_by,
            "seed_recipe_seeds": options.profile.seed_recipe_seeds}


def child_env(case_json: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)  # the child selects it from the case file
    env[CASE_ENV_VAR] = str(case_json)
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYTHONHASHSEED", "0")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(SAFE_PATH)
    return env


def _run_case(
    case: CaseConfig, plan: CasePlan, run: dict[str, Any], run_dir: Path, raw_dir: Path, work: Path,
    command: ChildCommand, reporter: Any, source: load.LoadSource | None = None, key: str | None = None,
) -> dict[str, Any]:
    """Run the case's child once; ``key`` names its files (a later repeat's: ``torch-cpu.r2``)."""
    key = key or plan.case_id
    case_json = case.write(work / f"{key}.case.json")
    raw_json = raw_dir / f"{key}.json"
    log_path = raw_dir / f"{key}.log"
    progress_path = Path(case.progress_path or work / "progress")
    monitor = load.LoadMonitor(source)

    def on_poll(elapsed: float) -> None:
        monitor.poll()
        reporter.case_progress(plan, progress_file.read(progress_path), elapsed)

    argv = command(case, case_json, raw_json)
    log.info("case %s: %s", plan.case_id, " ".join(argv))
    limit = _timeout(run)

    def finish(status: str, reason: str | None, seconds: float) -> dict[str, Any]:
        return _finish(plan, run, run_dir, raw_json, log_path, case, status, reason, seconds, monitor.summary())

    monitor.start()
    try:
        ended = run_child(argv, env=child_env(case_json), timeout=limit, log_path=log_path, on_poll=on_poll)
    except ChildInterrupted as stop:
        raise _Interrupted(finish("interrupted", stopping.reason(), stop.result.seconds)) from None
    if ended.ending == "timeout":
        return finish("timeout", f"no result within the {limit:g} s limit ({_timeout_rule(run)}); "
                      "raise it with --timeout SECONDS", ended.seconds)
    outcome = collect.read_raw(Path(case.outcome_path)) if case.outcome_path else None
    if ended.returncode == 0 and outcome and outcome.get("status") == "skipped":
        return finish("skipped", outcome.get("reason"), ended.seconds)
    if ended.returncode != 0:
        return finish("failed", describe_returncode(ended.returncode), ended.seconds)
    if not raw_json.is_file():
        return finish("failed", "the child wrote no benchmark results", ended.seconds)
    return finish("ok", None, ended.seconds)


def run_once(
    plan: CasePlan, options: BenchOptions, run: dict[str, Any], run_dir: Path, raw_dir: Path, work: Path,
    weights: tuple[str, str] | None, command: ChildCommand, reporter: Any, source: load.LoadSource | None, *,
    shown: CasePlan, index: int, total: int, key: str | None = None, before: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], tuple[str, str] | None, bool]:
    """One process of ``plan`` (a case's first, a later repeat, an A/B side's): told to the reporter as
    ``shown``, skipped where planning said so, its record whatever happens. ``before`` runs just
    before the child starts (the runner saves the case as ``running``). Returns (the record, the
    first trained weights, interrupted): a Ctrl-C ends this case as interrupted, with what it left."""
    record: dict[str, Any] | None = None
    interrupted = False
    try:
        reporter.case_started(index, total, shown)
        if plan.skip_reason:
            record = _record(plan, "skipped", plan.skip_reason)
        else:
            case = _case_config(plan, options, work, raw_dir, weights, key=key)
            if before is not None:
                before()
            record = _run_case(case, plan, run, run_dir, raw_dir, work, command, reporter, source, key=key)
            if record["status"] == "ok" and case.weights_out and Path(case.weights_out).is_file() and weights is None:
                weights = (case.weights_out, plan.case_id)
    except _Interrupted as stop:
        record, interrupted = stop.record, True
    except KeyboardInterrupt:  # outside the child: nothing to stop, keep what finished
        interrupted = True
        record = record or _record(plan, "interrupted", stopping.reason())
    return record, weights, interrupted


def _timeout(run: dict[str, Any]) -> float:
    return float(run["workload"]["timeout_s"])


def _timeout_rule(run: dict[str, Any]) -> str:
    """How the limit was set, for the timeout message."""
    profile = (run.get("workload") or {}).get("profile") or {}
    if profile.get("timeout") is not None:
        return "set by --timeout"
    return (f"{profile.get('timeout_base', 0):g} s + {profile.get('timeout_per_seed_epoch', 0):g} s "
            f"x {len(run['workload'].get('seeds') or [])} seed(s) x {run['workload']['train'].get('epochs')} epoch(s)")


def _finish(
    plan: CasePlan, run: dict[str, Any], run_dir: Path, raw_json: Path, log_path: Path, case: CaseConfig,
    status: str, reason: str | None, seconds: float, load_summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The case's record, with whatever measurements its raw JSON holds (even a failed one's).

    When the raw JSON is missing or lacks the training benchmark (the child crashed or timed out
    in the inference tests), the training comes from the side file the training test wrote.
    The machine's state beside the numbers: the peak probes (``peak``), the load (``load``), and
    the verdicts ``busy`` and ``unstable`` with their reasons in ``machine_flags``.
    """
    raw = collect.read_raw(raw_json) if raw_json.is_file() else None
    has_raw = raw is not None
    side_path = collect.training_side_path(raw_json)
    side = collect.read_raw(side_path) if side_path.is_file() else None
    raw, recovered = collect.merge_training_side(raw, side)
    record = _record(plan, status, reason)
    record.update(collect.measurements(raw, (run["machine"].get("peak_gflops") or {}).get("fallback")))
    if (record.get("peak") or {}).get("gflops") and raw_json.stem == plan.case_id:  # the first repeat's
        run["machine"]["peak_gflops"][plan.case_id] = record["peak"]["gflops"]
    record["load"] = load_summary
    record.update(machine_verdict(record.get("peak"), load_summary))
    record["duration_s"] = round(seconds, 3)
    record["raw_benchmark_json"] = str(raw_json.relative_to(run_dir)) if has_raw else None
    if recovered:
        record["note"] = (
            f"training kept from {side_path.relative_to(run_dir)}: the child ended before "
            "pytest-benchmark wrote its JSON"
        )
    record["log"] = str(log_path.relative_to(run_dir)) if log_path.is_file() else None
    if status in ("failed", "timeout", "interrupted"):
        record["stderr_tail"] = tail(log_path) or None
    if not plan.trains:
        record["note"] = record.get("note") or (
            f"weights trained by {case.weights_from}" if case.weights_from else "untrained weights"
        )
    return record


def machine_verdict(peak: dict[str, Any] | None, load_summary: dict[str, Any] | None) -> dict[str, Any]:
    """``busy`` (other processes or steal took CPU), ``unstable`` (peak probes >10% apart), and why."""
    flags = []
    busy = bool(load_summary and load_summary.get("busy"))
    if busy:
        flags += [f"busy: {why}" for why in load_summary["busy_reasons"]]
    unstable = bool(peak and peak.get("unstable"))
    if unstable:
        flags.append(
            f"unstable: peak probes {peak['before_gflops']:.1f} before and {peak['after_gflops']:.1f} GFLOP/s after "
            f"differ by {peak['change_percent']:.0f}%"
        )
    for error in (peak or {}).get("errors") or []:
        flags.append(f"peak probe failed ({error})")
    return {"busy": busy, "unstable": unstable, "machine_flags": flags}


def _record(plan: CasePlan, status: str, reason: str | None) -> dict[str, Any]:
    return {
        "id": plan.case_id, "backend": plan.backend, "device": plan.device, "status": status,
        "reason": reason, "stderr_tail": None, "duration_s": 0.0, "raw_benchmark_json": None, "log": None,
        "device_name": None, "note": None, "training": None, "inference": [], "latency_ms": {},
        "agreement": None, "training_agreement": None, "confusion_matrix": None,
        "compile_overrides": dict(plan.variant) or None, "flops": None, "peak": None, "latency_probe": None, "precision": None,
        "load": None, "busy": False, "unstable": False, "machine_flags": [], "race": None,
    }
