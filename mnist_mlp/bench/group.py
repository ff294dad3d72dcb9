"""Shared processes: a framework's cases run one after another in one child (the quick profile).

Every case has a process of its own in the full profile: a case's figures then owe nothing to
another's. The quick profile is a smoke run that must finish in about a minute, and importing a
framework with Keras takes 3 to 7 s on a 2-core VM: with every implementation a process of its own
(Keras, native, native-fast per framework) it took two minutes. So where the profile says
``shared_process``, the cases of one backend and device form a group that one child runs
(``bench.group_child``: a pytest session per case, the suites imported afresh for each), and each
record says whose process it shared (``process``).

A group that crashes, times out or is interrupted keeps the cases that finished before (each
leaves its raw JSON and a ``.done`` marker) and says of the others what stopped them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

from mnist_mlp import backends
from mnist_mlp.bench import collect, load, progress_file, stopping
from mnist_mlp.bench.case import _case_config, _finish, _record, child_env
from mnist_mlp.bench.child import ChildInterrupted, describe_returncode, run_child
from mnist_mlp.bench.group_child import done_path
from mnist_mlp.bench.plan import BenchOptions, CasePlan
from mnist_mlp.bench.repeats import repeat_entry
from mnist_mlp.results import utc_now

#: ``group_json -> argv`` of the child that runs a group (``python -m mnist_mlp.bench.group_child``)
GroupCommand = Callable[[Path], list[str]]
Unit = list[tuple[int, CasePlan]]


def plan_groups(plans: Sequence[CasePlan], shared: bool) -> list[Unit]:
    """The plan in units of one process: where ``shared``, every case of one process key (a
    framework on a device; the serving runtimes join TensorFlow's, whose Keras writes their
    artifacts) in the unit of the first such case, in plan order; else, and for every case skipped
    at planning, one case a unit. A unit runs where its first case stands in the plan; each record
    keeps its own place in the results."""
    units: list[Unit] = []
    by_key: dict[tuple[str, str], Unit] = {}
    for index, plan in enumerate(plans, 1):
        key = _process_key(plan)
        if shared and not plan.skip_reason and key in by_key:
            by_key[key].append((index, plan))
            continue
        units.append([(index, plan)])
        if shared and not plan.skip_reason:
            by_key[key] = units[-1]
    return units


def _process_key(plan: CasePlan) -> tuple[str, str]:
    """Cases with the same key may share a process: the process group of the backend's
    implementation (the serving runtimes and the NumPy reference join TensorFlow's, NumPy's native
    trainer JAX's) or its own name, and the device."""
    return backends.get(plan.backend).process_group_of(plan.implementation), plan.device


def group_command(python: Sequence[str]) -> GroupCommand:
    return lambda group_json: [*python, "-m", "mnist_mlp.bench.group_child", str(group_json)]


def run_group(
    unit: Unit, key_of: Callable[[CasePlan], str], options: BenchOptions, run: dict[str, Any], run_dir: Path,
    raw_dir: Path, work: Path, weights: tuple[str, str] | None, command: GroupCommand, suites: tuple[list[str], list[str]],
    reporter: Any, source: load.LoadSource | None, total: int,
    on_record: Callable[[CasePlan, dict[str, Any]], None],
) -> tuple[tuple[str, str] | None, bool]:
    """Run the unit's cases in one child; hand each case's record to ``on_record`` as soon as it is
    done (its ``.done`` marker), the others' when the child ends. Returns (the weights, interrupted).

    ``key_of(plan)`` names each case's files (a later repeat's: ``torch-cpu.r2``); ``suites`` is
    (suite files, pytest options) of the child's own benchmarks (``runner.suite_args``). Each case
    gets the machine's load while it ran (a monitor of its own).
    """
    plans = [plan for _, plan in unit]
    cases = []
    for plan in plans:  # a case that serves weights hands them to the unit's later cases when none came before
        cases.append(_case_config(plan, options, work, raw_dir, weights or _earlier_weights(plans, cases), key=key_of(plan)))
    jsons = [case.write(work / f"{key_of(plan)}.case.json") for plan, case in zip(plans, cases)]
    for path in jsons:
        done_path(path).unlink(missing_ok=True)
    group_json = work / f"{key_of(plans[0])}.group.json"
    group_json.write_text(json.dumps({
        "suites": suites[0], "pytest_args": suites[1],
        "cases": [{"case_json": str(path), "raw_json": str(raw_dir / f"{key_of(plan)}.json")} for plan, path in zip(plans, jsons)],
    }), encoding="utf-8")
    log_path = raw_dir / f"{key_of(plans[0])}.log"
    limit = float(run["workload"]["timeout_s"]) * len(plans)
    state = {"next": 0, "shown": 0, "monitor": load.LoadMonitor(source), "weights": weights}

    def finish(ending: Any, interrupted: bool) -> None:
        position = state["next"]
        plan, case, path = plans[position], cases[position], jsons[position]
        if state["shown"] != position:  # the child was quicker than the polls: say it started, then ended
            reporter.case_started(unit[position][0], total, plan)
            state["shown"] = position
        raw_json = raw_dir / f"{key_of(plan)}.json"
        status, reason, seconds = _status(case, path, raw_json, ending, interrupted, limit)
        record = _finish(plan, run, run_dir, raw_json, log_path, case, status, reason, seconds, state["monitor"].summary())
        record["process"] = {"shared_with": [p.case_id for p in plans if p is not plan], "position": position + 1,
                             "cases": len(plans)}
        if status == "ok" and case.weights_out and Path(case.weights_out).is_file() and state["weights"] is None:
            state["weights"] = (case.weights_out, plan.case_id)
        on_record(plan, record)
        state["next"] = position + 1
        if state["next"] < len(plans) and ending is None:  # the child goes on with the next case
            state["monitor"] = load.LoadMonitor(source)
            state["monitor"].start()
            reporter.case_started(unit[position + 1][0], total, plans[position + 1])
            state["shown"] = position + 1

    def on_poll(elapsed: float) -> None:
        state["monitor"].poll()
        while state["next"] < len(plans) and done_path(jsons[state["next"]]).is_file():
            finish(None, False)
        if state["next"] < len(plans):
            current = state["next"]
            reporter.case_progress(plans[current], progress_file.read(Path(cases[current].progress_path)), elapsed)

    reporter.case_started(unit[0][0], total, plans[0])
    state["monitor"].start()
    interrupted = False
    try:
        ending = run_child(command(group_json), env=child_env(jsons[0]), timeout=limit, log_path=log_path, on_poll=on_poll)
    except ChildInterrupted as stop:
        interrupted, ending = True, stop.result
    while state["next"] < len(plans):
        finish(ending, interrupted)
    return state["weights"], interrupted


def _earlier_weights(plans: Sequence[CasePlan], cases: Sequence[Any]) -> tuple[str, str] | None:
    """(weights file, case id) of the unit's first case, configured so far, that writes trained
    weights: the file appears when that case has trained, before the later cases of the process run
    (a case that finds no file serves untrained weights and says why)."""
    for plan, case in zip(plans, cases):
        if case.weights_out:
            return case.weights_out, plan.case_id
    return None


def _status(case: Any, case_json: Path, raw_json: Path, ending: Any, interrupted: bool, limit: float,
            ) -> tuple[str, str | None, float]:
    """One case's status in its group: by its own ``.done`` marker, else by what ended the process."""
    marker = collect.read_raw(done_path(case_json)) if done_path(case_json).is_file() else None
    if marker is not None:
        seconds = float(marker.get("seconds") or 0.0)
        outcome = collect.read_raw(Path(case.outcome_path)) if case.outcome_path else None
        if marker.get("code") == 0 and outcome and outcome.get("status") == "skipped":
            return "skipped", outcome.get("reason"), seconds
        if marker.get("code") != 0:
            return "failed", f"pytest exit code {marker.get('code')}", seconds
        if not raw_json.is_file():
            return "failed", "the child wrote no benchmark results", seconds
        return "ok", None, seconds
    seconds = float(getattr(ending, "seconds", 0.0) or 0.0)
    if interrupted:
        return "interrupted", stopping.reason(), seconds
    if getattr(ending, "ending", "") == "timeout":
        return "timeout", f"the shared process had no result within its {limit:g} s limit; raise it with --timeout SECONDS", seconds
    why = describe_returncode(getattr(ending, "returncode", None))
    return "failed", f"the shared process ended ({why}) before this case finished", seconds


def run_unit(
    unit: Unit, repeat: int, slots: dict[str, dict[str, Any] | None], weights: tuple[str, str] | None,
    save: Callable[[bool], None], **group: Any,
) -> tuple[tuple[str, str] | None, bool]:
    """One group's turn in the schedule: run it (its first repeat, or a later one of the cases
    whose first ended ok), put each record in its slot or its case's repeats and save as each case
    ends; returns (the weights, interrupted)."""
    if repeat > 1:
        unit = [(i, plan) for i, plan in unit if (slots[plan.case_id] or {}).get("status") == "ok"]
        if not unit:
            return weights, False
    started = {"at": utc_now()}
    hit = {"any": False}

    def on_record(plan: CasePlan, record: dict[str, Any]) -> None:
        with stopping.DeferredInterrupt() as deferred:
            record.update(started_utc=started["at"], ended_utc=utc_now())
            started["at"] = record["ended_utc"]
            if repeat == 1:
                if group["options"].repeats > 1:
                    record["repeats"] = [repeat_entry(record, 1)]
                slots[plan.case_id] = record
            else:
                slots[plan.case_id]["repeats"].append(repeat_entry(record, repeat))
            try:
                group["reporter"].case_finished(plan, record)
            except KeyboardInterrupt:
                hit["any"] = True
            save(hit["any"] or deferred.hit)
        hit["any"] = hit["any"] or deferred.hit

    try:
        weights, interrupted = run_group(unit, lambda plan: plan.case_id if repeat == 1 else f"{plan.case_id}.r{repeat}",
                                         weights=weights, on_record=on_record, **group)
    except KeyboardInterrupt:  # outside the child: nothing to stop; the cases without a record say so
        interrupted = True
        for _, plan in unit:
            if repeat == 1 and slots[plan.case_id] is None:
                on_record(plan, _record(plan, "interrupted", stopping.reason()))
    return weights, interrupted or hit["any"]
