"""Run the benchmark matrix: one fresh pytest-benchmark child per backend x device case.

Plan (``plan_cases``): backends x devices, then the NumPy reference on the CPU; a case whose
backend is not installed or whose device is absent is skipped with its reason, before any
process starts. Each case then runs in its own child (``python -m pytest benchmarks/...``,
see ``child_argv``) with its settings in a JSON file, a wall-clock timeout and its own log.
After every case ``results.json`` is saved again, and just before a child starts its case is
saved as ``running``, so a parent killed outright loses nothing that finished and the file says
where it stopped (``bench --resume`` continues it: ``mnist_mlp.bench.resume``). Ctrl-C at any
point (in a child, between cases, while saving) stops the running child, marks it
``interrupted``, saves what finished and ends the run as ``interrupted`` (exit 130); SIGTERM, a
scheduler's stop, is handled the same way (exit 143; ``stopping``).
A child that crashes or times out after its training test keeps that training: the suite writes
it at once to ``raw/<case>.training.json``, read back when the raw JSON is missing or lacks it.

The child command is injectable (the ``child_command`` argument, or the hidden
``$MNIST_MLP_BENCH_CHILD``: a Python script run as ``python SCRIPT CASE_JSON RAW_JSON``) so the
tests can exercise crashes, timeouts and interrupts with fake children in milliseconds.

Every case is judged against its own device's FP32 matmul peak, probed by the child right
before and right after the case (``collect.case_peak``), and the parent samples the machine's
load while the child runs (``load.LoadMonitor``): a case is marked ``busy`` when other processes
or the hypervisor took CPU time from it, ``unstable`` when its two peak probes differ by more
than 10%. Test hook: the hidden ``$MNIST_MLP_BENCH_PEAK_GFLOPS`` (a number) stands in for the
probes (about 1 s of full-CPU matmuls each), so CLI tests neither wait for them nor slow their
neighbours.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, Sequence

import mnist_mlp
from mnist_mlp import atomic, backends, results
from mnist_mlp.results import utc_now
from mnist_mlp.bench import load, machine, rundir, stopping
from mnist_mlp.bench.case import ChildCommand, _record, run_once
from mnist_mlp.bench.plan import BenchOptions, CasePlan, plan_cases
from mnist_mlp.bench.profiles import Profile
from mnist_mlp.bench.progress_file import ChildProgress
from mnist_mlp.bench.group import group_command, plan_groups, run_unit
from mnist_mlp.bench.repeats import repeat_entry, run_repeat, schedule, shown_plans, statuses
from mnist_mlp.config import ModelSpec
from mnist_mlp.race.recipe import recipes_identity
from mnist_mlp.errors import EXIT_CASES_FAILED, EXIT_OK, UsageError

log = logging.getLogger(__name__)

BENCH_DIR_ENV = "MNIST_MLP_BENCHMARKS_DIR"
CHILD_ENV = "MNIST_MLP_BENCH_CHILD"
from mnist_mlp.bench.suite import PEAK_ENV  # noqa: E402  (test hook: no peak probes)
SUITE_FILES = ("test_training.py", "test_inference.py")  # what every checkout has (finding the suites)



class Reporter(Protocol):
    def machine_checked(self, state: dict[str, Any] | None) -> None: ...
    def run_started(self, plans: Sequence[CasePlan], options: BenchOptions) -> None: ...
    def case_started(self, index: int, total: int, plan: CasePlan) -> None: ...
    def case_progress(self, plan: CasePlan, progress: ChildProgress | None, elapsed: float) -> None: ...
    def case_finished(self, plan: CasePlan, record: dict[str, Any]) -> None: ...


class NullReporter:
    def machine_checked(self, state: dict[str, Any] | None) -> None:
        if state and state.get("busy"):
            log.warning("the machine is already busy: %s", "; ".join(state["busy_reasons"]))

    def run_started(self, plans: Sequence[CasePlan], options: BenchOptions) -> None:
        pass

    def case_started(self, index: int, total: int, plan: CasePlan) -> None:
        log.info("case %d/%d: %s", index, total, plan.case_id)

    def case_progress(self, plan: CasePlan, progress: ChildProgress | None, elapsed: float) -> None:
        pass

    def case_finished(self, plan: CasePlan, record: dict[str, Any]) -> None:
        log.info("case %s: %s", plan.case_id, record["status"])


@dataclass
class RunOutcome:
    run: dict[str, Any]
    run_dir: Path
    exit_code: int
    records: list[dict[str, Any]] = field(default_factory=list)


def find_benchmarks_dir() -> Path:
    """``$MNIST_MLP_BENCHMARKS_DIR``, else ``benchmarks/`` beside the (editable) package, else in cwd."""
    candidates = []
    if os.environ.get(BENCH_DIR_ENV):
        candidates.append(Path(os.environ[BENCH_DIR_ENV]))
    candidates += [Path(mnist_mlp.__file__).resolve().parent.parent / "benchmarks", Path.cwd() / "benchmarks"]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in ("conftest.py", *SUITE_FILES)):
            return candidate.resolve()
    raise UsageError(
        f"cannot find the benchmark suites (benchmarks/conftest.py); install the project editable "
        f"(pip install -e .) or set {BENCH_DIR_ENV}"
    )


def suite_args(profile: Profile, bench_dir: Path) -> tuple[list[str], list[str]]:
    """(the profile's suites, training first; pytest's options for them) without the raw JSON's path."""
    return [str(bench_dir / name) for name in profile.suites], [
        # no:unraisableexception: pytest's hook for exceptions in __del__ runs full garbage
        # collections as the session ends, about 0.56 s a case with a framework loaded, measuring
        # nothing (a shared process collects between its cases itself: ``group_child.settle_heap``);
        # no:xdist: the test extra's parallel runner, whose import took 0.16 s a process, runs no case
        "--rootdir", str(bench_dir), "-p", "no:cacheprovider", "-p", "no:warnings", "-p", "no:unraisableexception",
        "-p", "no:xdist", "-p", "no:xdist.looponfail", "-q", "-o", "addopts=",
        # per pass (``Profile.passes``): the passes of a benchmark share the profile's budget
        f"--benchmark-max-time={profile.pass_max_time:g}",
        f"--benchmark-min-rounds={profile.pass_min_rounds}",
        f"--benchmark-min-time={profile.min_time}",
        "--benchmark-sort=name",
        "--benchmark-columns=min,median,mean,stddev,rounds,ops",
    ]


def child_argv(case_json: Path, raw_json: Path, profile: Profile, bench_dir: Path,
               python: Sequence[str] = (sys.executable,)) -> list[str]:
    """``python -m pytest`` on the two suites (training first), writing the raw JSON; ``python``:
    the command that starts the child's Python (an A/B side's own, ``bench.sides``)."""
    suites, args = suite_args(profile, bench_dir)
    return [*python, "-m", "pytest", *suites, *args, f"--benchmark-json={raw_json}"]


def default_child_command(profile: Profile) -> ChildCommand:
    script = os.environ.get(CHILD_ENV)
    if script:
        return lambda case, case_json, raw_json: [sys.executable, script, str(case_json), str(raw_json)]
    bench_dir = find_benchmarks_dir()
    return lambda case, case_json, raw_json: child_argv(case_json, raw_json, profile, bench_dir)


# --------------------------------------------------------------------------- running


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", machine.host_name())[:40] or "host"
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}_{host}"


def run_benchmarks(
    options: BenchOptions, *, reporter: Reporter | None = None, child_command: ChildCommand | None = None,
    peak_gflops: float | None = None, dataset: dict[str, Any] | None = None,
    load_source: load.LoadSource | None | str = None, opening_check_s: float = 0.0, resume: Any = None,
) -> RunOutcome:
    """Run every planned case, save results.json after each, and return the run and exit code.

    ``dataset`` may be given to skip the data load (tests). ``peak_gflops`` is only a fallback
    for cases whose child reported no peak probe (fake children in tests, ``$MNIST_MLP_BENCH_PEAK_GFLOPS``).
    ``load_source`` samples the machine's load ("psutil": the real machine; None: no monitoring;
    or a fake); before the first case the machine is watched for ``opening_check_s`` seconds and
    the reporter told when it is already busy. ``resume`` (a ``resume.ResumeState``) continues
    that run instead: its kept cases stay as they are, its setup is the run's own, and only the
    other cases run.
    """
    with stopping.StopSignals():
        return _run_benchmarks(options, reporter=reporter, child_command=child_command, peak_gflops=peak_gflops,
                               dataset=dataset, load_source=load_source, opening_check_s=opening_check_s, resume=resume)


def _run_benchmarks(
    options: BenchOptions, *, reporter: Reporter | None, child_command: ChildCommand | None, peak_gflops: float | None,
    dataset: dict[str, Any] | None, load_source: load.LoadSource | None | str, opening_check_s: float, resume: Any,
) -> RunOutcome:
    reporter = reporter or NullReporter()
    out_root = atomic.ensure_writable_dir(options.out)
    command = child_command or default_child_command(options.profile)
    if resume is not None:
        dataset, peak_gflops = resume.run["dataset"], (resume.run["machine"].get("peak_gflops") or {}).get("fallback")
    found = {"dataset": dataset}

    def read_data() -> None:
        if found["dataset"] is None:
            from mnist_mlp.data import load_mnist

            data = load_mnist(options.data_dir)
            found["dataset"] = {"sha256": data.sha256, "source": data.source}

    source = load.default_source() if load_source == "psutil" else load_source
    if source is not None and opening_check_s > 0:  # the data is read while the machine is watched
        at_start = load.measure_for(opening_check_s, source, during=read_data)
    else:
        read_data()
        at_start = None
    dataset = found["dataset"]
    if peak_gflops is None and os.environ.get(PEAK_ENV):
        peak_gflops = _peak_from_env(os.environ[PEAK_ENV])
    reporter_call(reporter, "machine_checked", at_start)

    if resume is None:  # a new folder, never one another run took (two runs in one second)
        folder = rundir.create(out_root, new_run_id())
        run = new_run_record(options, folder.path.name, peak_gflops, dataset)
    else:
        folder, run = resume.folder, resume.run
    run_dir = folder.path
    raw_dir = atomic.ensure_writable_dir(run_dir / "raw")
    if resume is None:
        run["machine_state_at_start"] = at_start
    plans = plan_cases(options.backends, options.devices, variants=options.variants, precision=options.precision,
                       implementations=options.implementations,
                       training_only=options.profile.race)
    kept = set(resume.keep) if resume is not None else set()
    reporter_call(reporter, "run_started", shown_plans([replace(p, kept=p.case_id in kept) for p in plans], options.repeats), options)
    # every planned case's record in plan order, None until it has one (a resume keeps some)
    slots: dict[str, dict[str, Any] | None] = {plan.case_id: resume.keep.get(plan.case_id) if resume else None for plan in plans}
    if resume is not None:
        resume.begin(plans)
    interrupted = False
    # the profile's shared processes (a group per framework), unless the caller gave its own child per case
    group = _group_command(options) if options.profile.shared_process and child_command is None else None
    try:
        with tempfile.TemporaryDirectory(prefix="mnist-mlp-bench-") as work:
            weights: tuple[str, str] | None = None  # (path, case id) of the first trained weights
            for repeat, unit in schedule(plan_groups(plans, group is not None), options.repeats):
                if len(unit) > 1:  # one shared process for the unit's cases (the quick profile)
                    todo = [(i, p) for i, p in unit if p.case_id not in kept and (repeat > 1 or slots[p.case_id] is None)]
                    if interrupted or not todo:
                        slots.update({p.case_id: _record(p, "skipped", results.NOT_RUN_REASON)
                                      for _, p in todo if repeat == 1 and interrupted})
                        continue
                    weights, interrupted = run_unit(
                        todo, repeat, slots, weights, lambda hit: _save(run, slots, hit, run_dir), options=options,
                        run=run, run_dir=run_dir, raw_dir=raw_dir, work=Path(work), command=group[0], suites=group[1],
                        reporter=reporter, source=source, total=len(plans))
                    continue
                index, plan = unit[0]
                if repeat > 1:  # a later repeat of a case whose first one ended ok
                    base = slots[plan.case_id]
                    if interrupted or plan.case_id in kept or base is None or base["status"] != "ok":
                        continue
                    interrupted = run_repeat(plan, repeat, index, options, run, slots, Path(work), raw_dir,
                                              run_dir, weights, command, reporter, source)
                    continue
                if slots[plan.case_id] is not None:  # kept from the run being resumed
                    continue
                if interrupted:
                    slots[plan.case_id] = _record(plan, "skipped", results.NOT_RUN_REASON)
                    continue
                started = utc_now()
                record, weights, hit = run_once(
                    plan, options, run, run_dir, raw_dir, Path(work), weights, command, reporter, source, shown=plan,
                    index=index, total=len(plans), before=lambda: _save_running(run, slots, plan, started, run_dir))
                interrupted = interrupted or hit
                with stopping.DeferredInterrupt() as deferred:  # bookkeeping and the save run to the end
                    record.update(started_utc=started, ended_utc=utc_now())
                    if options.repeats > 1 and not plan.skip_reason:
                        record["repeats"] = [repeat_entry(record, 1)]
                    slots[plan.case_id] = record
                    try:
                        reporter.case_finished(plan, record)
                    except KeyboardInterrupt:  # raised by the reporter itself
                        interrupted = True
                    _save(run, slots, interrupted or deferred.hit, run_dir)
                interrupted = interrupted or deferred.hit
    except KeyboardInterrupt:  # in the few statements between the guarded parts, or the clean-up
        interrupted = True
        for plan in plans:
            if slots[plan.case_id] is None:
                slots[plan.case_id] = _record(plan, "skipped", results.NOT_RUN_REASON)
    records = _filled(slots)
    run["cases"] = records
    run["status"] = _run_status(records, interrupted)
    with stopping.DeferredInterrupt() as deferred:
        results.save(run, run_dir)
    if deferred.hit and not interrupted:  # Ctrl-C during the last save: record it, save again
        interrupted = True
        run["status"] = _run_status(records, interrupted)
        with stopping.DeferredInterrupt():
            results.save(run, run_dir)
    folder.release()
    if interrupted:
        code = stopping.exit_code()
    elif any(status in ("failed", "timeout") for status in statuses(records)):
        code = EXIT_CASES_FAILED
    else:
        code = EXIT_OK
    return RunOutcome(run=run, run_dir=run_dir, exit_code=code, records=records)


def reporter_call(reporter: Any, name: str, *args: Any) -> None:
    """Call an optional reporter hook (reporters written before the hook existed lack it)."""
    hook = getattr(reporter, name, None)
    if hook is not None:
        hook(*args)



def _filled(slots: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    return [record for record in slots.values() if record is not None]


def _save(run: dict[str, Any], slots: dict[str, dict[str, Any] | None], interrupted: bool, run_dir: Path) -> None:
    run["cases"] = _filled(slots)
    run["status"] = "interrupted" if interrupted else "partial"
    results.save(run, run_dir)


def _group_command(options: BenchOptions) -> tuple[Any, tuple[list[str], list[str]]]:
    """(the shared process's command, its suites and pytest options): this Python's own."""
    try:
        suites = suite_args(options.profile, find_benchmarks_dir())
    except UsageError:
        if not os.environ.get(CHILD_ENV):
            raise
        suites = ([], [])  # the test hook's script stands in for the suites
    return group_command((sys.executable,)), suites


def _save_running(run: dict[str, Any], slots: dict[str, dict[str, Any] | None], plan: CasePlan, started: str, run_dir: Path) -> None:
    """Save the case as ``running`` before its child starts: what a killed parent leaves behind."""
    record = _record(plan, "running", f"started {started}; the run ended before this case did (its parent was killed?)")
    record["started_utc"] = started
    run["cases"] = _filled({**slots, plan.case_id: record})
    run["status"] = "partial"
    results.save(run, run_dir)


def _peak_from_env(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UsageError(f"${PEAK_ENV}: expected a positive number of GFLOP/s, got {text!r}")
    return value


def _run_status(records: list[dict[str, Any]], interrupted: bool) -> str:
    if interrupted:
        return "interrupted"
    return "partial" if any(status in ("failed", "timeout") for status in statuses(records)) else "complete"


def new_run_record(options: BenchOptions, run_id: str, peak_gflops: float | None, dataset: dict[str, Any]) -> dict[str, Any]:
    commit, dirty = machine.git_commit()
    train = options.train.to_dict()
    train.pop("seed")
    profile = options.profile
    return {
        "schema": results.SCHEMA,
        "schema_version": results.SCHEMA_VERSION,
        "run_id": run_id,
        "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "partial",
        "tool": {"name": "mnist-mlp", "version": mnist_mlp.__version__, "commit": commit, "dirty": dirty},
        "profile": options.profile_label,
        # filled as cases finish: each case's own peak (the higher of its two probes), by case id
        "machine": machine.describe({"fallback": peak_gflops} if peak_gflops else {}),
        "software": backends.package_versions(),
        "dataset": dataset,
        "workload": {
            "train": train,
            "seeds": options.seeds,
            "batch_sizes": list(profile.batch_sizes),
            "target_accuracy": profile.target_accuracy,
            "model": ModelSpec().to_dict(),
            "profile": profile.to_dict(),
            "timeout_s": profile.case_timeout(len(options.seeds), options.train.epochs),
            "backends": list(options.backends),
            "devices": list(options.devices),
            "compile_variants": [dict(variant) for variant in options.variants],
            "precision": options.precision,
            **({"implementations": list(options.implementations)} if options.implementations != ("keras",) else {}),
            **({"repeats": options.repeats} if options.repeats > 1 else {}),
            **({"recipes": recipes_identity(options.recipe_file)} if profile.race else {}),
        },
        "cases": [],
        "gate": None,
    }
