"""``mnist-mlp ab``: every case on two sides, alternately, N pairs, in one session on one machine.

"Did this change make it slower?" is answered best by running both sides on the same machine in
the same session, interleaved, so a drift of the machine's speed falls on both alike (pyperf,
asv's ``continuous``, Google Benchmark's ``compare.py``). For each pair and each case, the two
sides run back to back, each in a fresh process of its own Python (``bench.sides``), A first in
odd pairs and B first in even ones (ABBA), so neither side always runs on the warmer machine.

Each side's figures make an ordinary run folder (``A/`` and ``B/``, a results.json each, every
pair a repeat: ``cases[].repeats[]``) that ``compare`` and ``report`` read as they read any run;
the paired judgment (``compare.paired``) is written beside them by the command.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from mnist_mlp import atomic, results
from mnist_mlp.bench import load, rundir, stopping
from mnist_mlp.bench.case import ChildCommand, _record, run_once
from mnist_mlp.bench.group import group_command, plan_groups, run_unit
from mnist_mlp.bench.plan import BenchOptions, CasePlan, plan_cases
from mnist_mlp.bench.repeats import repeat_entry, statuses
from mnist_mlp.bench.runner import (
    CHILD_ENV, NullReporter, child_argv, new_run_id, new_run_record, reporter_call, suite_args, utc_now,
)
from mnist_mlp.bench.sides import Side
from mnist_mlp.errors import EXIT_CASES_FAILED, EXIT_OK


@dataclass
class SideRun:
    """One side's run while the session goes: its folder, record, case records, trained weights."""

    side: Side
    folder: Any
    run: dict[str, Any]
    command: ChildCommand
    work: Path
    slots: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    weights: tuple[str, str] | None = None

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    def save(self, interrupted: bool) -> None:
        self.run["cases"] = [record for record in self.slots.values() if record is not None]
        codes = statuses(self.run["cases"])
        self.run["status"] = "interrupted" if interrupted else (
            "partial" if any(code in ("failed", "timeout") for code in codes) or None in self.slots.values() else "complete")
        results.save(self.run, self.run_dir)


@dataclass
class AbOutcome:
    session_dir: Path
    runs: dict[str, dict[str, Any]]
    run_dirs: dict[str, Path]
    exit_code: int
    interrupted: bool = False


def side_command(side: Side, options: BenchOptions) -> ChildCommand:
    """The child of one case on ``side``: its own Python running its own benchmark suites (or the
    test hook's script, ``$MNIST_MLP_BENCH_CHILD``, run by the side's Python)."""
    script = os.environ.get(CHILD_ENV)
    if script:
        return lambda case, case_json, raw_json: [*side.argv, script, str(case_json), str(raw_json)]
    return lambda case, case_json, raw_json: child_argv(case_json, raw_json, options.profile, side.bench_dir, side.argv)


def pair_order(pair: int, sides: Sequence[SideRun]) -> list[SideRun]:
    """A then B in odd pairs, B then A in even ones (ABBA): neither side always runs second."""
    return list(sides) if pair % 2 else list(reversed(sides))


def run_ab(
    options: BenchOptions, sides: Sequence[Side], pairs: int, *, reporter: Any = None,
    commands: dict[str, ChildCommand] | None = None, peak_gflops: float | None = None,
    dataset: dict[str, Any] | None = None, load_source: Any = None,
) -> AbOutcome:
    """Run every case on both ``sides``, ``pairs`` times, alternately; save both runs after each case.

    ``commands`` replaces each side's child command (tests: fake children). A Ctrl-C or SIGTERM
    stops the running child, keeps every finished case of both sides and ends the session
    (``interrupted``); a case that fails on one side fails there only.
    """
    with stopping.StopSignals():
        return _run_ab(options, sides, pairs, reporter or NullReporter(), commands or {}, peak_gflops, dataset, load_source)


def _run_ab(options: BenchOptions, sides: Sequence[Side], pairs: int, reporter: Any, commands: dict[str, ChildCommand],
            peak_gflops: float | None, dataset: dict[str, Any] | None, load_source: Any) -> AbOutcome:
    options = replace(options, repeats=pairs)
    out_root = atomic.ensure_writable_dir(options.out)
    if dataset is None:
        from mnist_mlp.data import load_mnist

        data = load_mnist(options.data_dir)
        dataset = {"sha256": data.sha256, "source": data.source}
    source = load.default_source() if load_source == "psutil" else load_source
    session = rundir.create(out_root, "ab-" + new_run_id())
    plans = plan_cases(options.backends, options.devices, variants=options.variants, precision=options.precision,
                       implementations=options.implementations,
                       training_only=options.profile.race)
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="mnist-mlp-ab-") as work:
        states = [_side_run(side, session.path, options, peak_gflops, dataset, commands, Path(work)) for side in sides]
        for state in states:
            state.slots = {plan.case_id: None for plan in plans}
        shown = [_shown(plan, state.side.label, pair, pairs) for pair in range(1, pairs + 1)
                 for plan in plans for state in pair_order(pair, states) if not plan.skip_reason or pair == 1]
        reporter_call(reporter, "run_started", shown, options)
        units = plan_groups(plans, options.profile.shared_process and not commands)
        for pair in range(1, pairs + 1):
            for unit in units:
                for state in pair_order(pair, states):
                    if interrupted:
                        break
                    if len(unit) > 1:  # the profile's shared process: the side's own group child
                        interrupted = _group(state, unit, pair, options, reporter, source, len(plans))
                    else:
                        interrupted = _one(state, unit[0][1], pair, unit[0][0], len(plans), options, reporter, source)
        for state in states:
            for plan in plans:
                if state.slots[plan.case_id] is None:
                    state.slots[plan.case_id] = _record(plan, "skipped", results.NOT_RUN_REASON)
            with stopping.DeferredInterrupt():
                state.save(interrupted)
            state.folder.release()
    session.release()
    failed = any(code in ("failed", "timeout") for state in states for code in statuses(state.run["cases"]))
    code = stopping.exit_code() if interrupted else EXIT_CASES_FAILED if failed else EXIT_OK
    return AbOutcome(session.path, {s.side.label: s.run for s in states}, {s.side.label: s.run_dir for s in states},
                     code, interrupted)


def _side_run(side: Side, session_dir: Path, options: BenchOptions, peak_gflops: float | None,
              dataset: dict[str, Any], commands: dict[str, ChildCommand], work: Path) -> SideRun:
    folder = rundir.create(session_dir, side.label)
    run = new_run_record(options, f"{session_dir.name}_{side.label}", peak_gflops, dataset)
    run["tool"]["commit"] = side.facts.get("commit", run["tool"]["commit"])
    run["tool"]["version"] = side.facts.get("version", run["tool"]["version"])
    run["software"] = side.facts.get("software") or run["software"]
    run["ab"] = {"side": side.label, "command": side.command, "session": session_dir.name}
    side_work = work / side.label
    side_work.mkdir()
    command = commands.get(side.label) or side_command(side, options)
    return SideRun(side, folder, run, command, side_work)


def _group(state: SideRun, unit: list[tuple[int, CasePlan]], pair: int, options: BenchOptions, reporter: Any,
           source: Any, total: int) -> bool:
    """Pair ``pair`` of a unit of cases that share one process, on one side; True when interrupted."""
    todo = [(i, plan) for i, plan in unit if pair > 1 or state.slots[plan.case_id] is None]
    raw_dir = atomic.ensure_writable_dir(state.run_dir / "raw")
    suites = suite_args(options.profile, state.side.bench_dir)
    state.weights, interrupted = run_unit(
        todo, pair, state.slots, state.weights, state.save, options=options, run=state.run, run_dir=state.run_dir,
        raw_dir=raw_dir, work=state.work, command=group_command(state.side.argv), suites=suites, reporter=reporter,
        source=source, total=total)
    return interrupted


def _shown(plan: CasePlan, label: str, pair: int, pairs: int) -> CasePlan:
    return replace(plan, case_id=f"{plan.case_id} [{label}, pair {pair}/{pairs}]")


def _one(state: SideRun, plan: CasePlan, pair: int, index: int, total: int, options: BenchOptions,
         reporter: Any, source: Any) -> bool:
    """Run ``plan`` once on one side (pair ``pair``); record it, save that side; True when interrupted."""
    first = state.slots[plan.case_id]
    if pair > 1 and (first is None or first["status"] != "ok"):
        return False  # skipped, failed or never reached in the first pair: nothing to pair
    key = plan.case_id if pair == 1 else f"{plan.case_id}.r{pair}"
    shown = _shown(plan, state.side.label, pair, options.repeats)
    started = utc_now()
    raw_dir = atomic.ensure_writable_dir(state.run_dir / "raw")
    record, state.weights, interrupted = run_once(
        plan, options, state.run, state.run_dir, raw_dir, state.work, state.weights, state.command, reporter, source,
        shown=shown, index=index, total=total, key=key)
    with stopping.DeferredInterrupt() as deferred:
        record.update(started_utc=started, ended_utc=utc_now())
        if pair == 1:
            if not plan.skip_reason:
                record["repeats"] = [repeat_entry(record, 1)]
            state.slots[plan.case_id] = record
        else:
            first["repeats"].append(repeat_entry(record, pair))
        try:
            reporter.case_finished(shown, record)
        except KeyboardInterrupt:
            interrupted = True
        state.save(interrupted or deferred.hit)
    return interrupted or deferred.hit


__all__ = ["AbOutcome", "SideRun", "pair_order", "run_ab", "side_command"]
