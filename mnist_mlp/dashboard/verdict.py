"""The dashboard's first screen: per machine, the fastest way to train and to serve, and the gate.

Five questions, each answered by one bar per case, grouped by implementation family (``family``):
training ms per step (the scoreboard's warm steady ms/step), the open division's time to its target
(``cases[].race.score``: the olympic mean of the seeds), batch-1 latency p50 and throughput at batch
10,000 (each the case's fastest inference path), and the accuracy gate's verdict (``gate.check``
with the thresholds the gate reads now, as the accuracy chart does). Each bar carries its spread
where the run has one: the seeds' standard deviation, the kept seeds' range, the rounds' p99 or
range.

Which run answers (``sources``): per machine (``figures.machine_key``), each case's figure comes
from one run: the machine's full-profile run that finished the most cases (on a tie, a run under
``reference/``, then the newest), else, for a case that run lacks, the newest full-profile run that
has it; every bar names its run. The time to the target comes the same way from the machine's
open-division runs. A machine without a full-profile run is answered from its newest profile (and
has no gate: the gate judges the full profile). Data only; ``mnist_mlp.report.dashboard_verdict``
draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from mnist_mlp.dashboard.changes import groups, machine_label
from mnist_mlp.dashboard.collect import REFERENCE_FOLDER, LoadedRun
from mnist_mlp.dashboard.figures import case_figures
from mnist_mlp.errors import MnistMlpError
from mnist_mlp.native.cases import implementation_of

FAMILIES = ("Keras", "native", "runtimes")
#: the serving runtimes' backends (their inference path is named ``runtime``)
RUNTIME_BACKENDS = frozenset({"onnxruntime", "openvino", "litert", "savedmodel", "openvino-bf16", "onnxruntime-int8"})
RUNTIME_PATH = "runtime"
FULL_PROFILE = "full"
SERVE_BATCH = 10_000
#: why a question has no bar at all, in the questions' order, when no case says more
EMPTY = ("no training case finished", "no open-division run: mnist-mlp bench --profile open",
         "no batch-1 latency measured", f"no inference at batch {SERVE_BATCH:,} measured", "no trained case to judge")


def family(case: Mapping[str, Any]) -> str:
    """The case's implementation family: ``runtimes`` (a serving runtime), ``native`` (a native
    implementation, or NumPy), else ``Keras`` (Keras on TensorFlow, JAX or PyTorch)."""
    backend = str(case.get("backend") or "")
    paths = {str(row.get("path")) for row in case.get("inference") or [] if isinstance(row, Mapping)}
    if backend in RUNTIME_BACKENDS or RUNTIME_PATH in paths:
        return "runtimes"
    if backend == "numpy" or implementation_of(case) != "keras":
        return "native"
    return "Keras"


@dataclass
class Bar:
    case: str
    family: str
    value: float
    run: str  # the run it comes from (its name on the page)
    text: str  # the figure and its spread, as written on the bar
    minus: float | None = None  # the spread below and above the value (error bars); None: none
    plus: float | None = None
    passed: bool | None = None  # the gate's verdict (the gate's question only)


@dataclass
class Question:
    key: str
    title: str
    unit: str
    lower_is_better: bool
    bars: list[Bar] = field(default_factory=list)  # by family (FAMILIES' order), best first in each
    missing: list[str] = field(default_factory=list)  # "case: why it has no bar"
    note: str = ""

    @property
    def best(self) -> Bar | None:
        if not self.bars:
            return None
        pick = min if self.lower_is_better else max
        return pick(self.bars, key=lambda bar: bar.value)


@dataclass
class MachineVerdict:
    machine: str
    questions: list[Question]
    sources: list[str]  # the runs the bars come from, primary first
    gate: str  # one line: the gate's verdict over the bars


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def fmt(value: float) -> str:
    """Three significant digits; thousands as ``770k``, millions as ``1.23M``."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.0f}k"
    if magnitude >= 100:
        return f"{value:.0f}"
    return f"{value:#.3g}".rstrip(".")  # 1.20, not 1.2: the digits shown are the digits meant


def _seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def _ok_cases(entry: LoadedRun):
    for case in entry.run.get("cases") or []:
        if isinstance(case, Mapping) and case.get("status") == "ok":
            yield str(case.get("id")), case


def _is_open(entry: LoadedRun) -> bool:
    return any(case.get("race") for _, case in _ok_cases(entry))


def sources(runs: Sequence[LoadedRun]) -> list[LoadedRun]:
    """Runs in the order they answer (module docstring): the one that finished the most cases (on
    a tie, a reference run, then the newest) first, then the others, newest first."""
    if not runs:
        return []
    newest_first = sorted(runs, key=lambda e: (e.created, e.name), reverse=True)
    primary = max(newest_first, key=lambda e: (sum(1 for _ in _ok_cases(e)), e.name.startswith(REFERENCE_FOLDER + "/")))
    return [primary] + [e for e in newest_first if e is not primary]


# each question: (case, run name) -> a Bar, or a string saying why the case has none, or None (not its question)
Reader = Callable[[Mapping[str, Any], LoadedRun], "Bar | str | None"]


def _train_step(case: Mapping[str, Any], entry: LoadedRun) -> Bar | str | None:
    training = _map(case.get("training"))
    if not training:
        return None
    if _map(training.get("data_parallel")).get("scaling") == "weak":
        return "weak scaling: a larger global batch per step"
    value = next((v for f, v in case_figures(case).items() if f.key == "train.warm_ms_per_step"), None)
    if value is None:
        return None
    stats = _map(_map(training.get("warm")).get("steady_ms_per_step"))
    if _number(stats.get("mean")) is None:
        stats = _map(training.get("steady_ms_per_step"))
    sd, n = _number(stats.get("stddev")), int(_number(stats.get("n")) or 1)
    text = f"{fmt(value)} ms" + (f" ±{sd:.2g} · {_seeds(n)}" if sd is not None and n > 1 else f" · {_seeds(n)}")
    return Bar(str(case.get("id")), family(case), value, entry.name, text,
               sd if n > 1 else None, sd if n > 1 else None)


def _train_target(case: Mapping[str, Any], entry: LoadedRun) -> Bar | str | None:
    race = _map(case.get("race"))
    if not race:
        return None
    score = _map(race.get("score"))
    value, low, high = (_number(score.get(k)) for k in ("seconds", "low", "high"))
    reached, seeds = score.get("reached"), score.get("seeds")
    if value is None:
        return f"no score: {score.get('why') or f'{reached} of {seeds} seeds reached the target'}"
    spread = f" ({fmt(low)}–{fmt(high)})" if low is not None and high is not None else ""
    return Bar(str(case.get("id")), family(case), value, entry.name, f"{fmt(value)} s{spread} · {reached}/{seeds} at target",
               None if low is None else max(value - low, 0.0), None if high is None else max(high - value, 0.0))


def _latency(case: Mapping[str, Any], entry: LoadedRun) -> Bar | str | None:
    paths = {str(p): _map(v) for p, v in _map(case.get("latency_ms")).items() if _number(_map(v).get("p50")) is not None}
    if not paths:
        return None
    path = min(paths, key=lambda p: paths[p]["p50"])
    value, p99 = float(paths[path]["p50"]), _number(paths[path].get("p99"))
    text = f"{fmt(value)} ms" + (f" · p99 {fmt(p99)}" if p99 is not None else "") + f" · {path}"
    return Bar(str(case.get("id")), family(case), value, entry.name, text, None,
               None if p99 is None else max(p99 - value, 0.0))


def _throughput(case: Mapping[str, Any], entry: LoadedRun) -> Bar | str | None:
    rows = {str(r.get("path")): r for r in case.get("inference") or []
            if isinstance(r, Mapping) and r.get("batch_size") == SERVE_BATCH and _number(r.get("samples_per_second")) is not None}
    if not rows:
        return None
    path = max(rows, key=lambda p: rows[p]["samples_per_second"])
    value = float(rows[path]["samples_per_second"])
    rounds = _map(rows[path].get("seconds_per_batch"))
    slow, fast, n = _number(rounds.get("max")), _number(rounds.get("min")), int(_number(rounds.get("n")) or 0)
    if slow and fast and n > 1:
        low, high = SERVE_BATCH / slow, SERVE_BATCH / fast
        return Bar(str(case.get("id")), family(case), value, entry.name,
                   f"{fmt(value)}/s ({fmt(low)}–{fmt(high)}, {n} rounds) · {path}",
                   max(value - low, 0.0), max(high - value, 0.0))
    return Bar(str(case.get("id")), family(case), value, entry.name, f"{fmt(value)}/s · {path}")


class _Gate:
    """``gate.check.check_run`` of each run, once, with the thresholds the gate reads now."""

    def __init__(self, thresholds: Mapping[str, Any] | None):
        self.thresholds = thresholds
        self.checked: dict[str, dict[str, Any]] = {}

    def __call__(self, case: Mapping[str, Any], entry: LoadedRun) -> Bar | str | None:
        from mnist_mlp.gate.check import check_run

        if self.thresholds is None or not _map(case.get("training")).get("per_seed"):
            return None
        if entry.name not in self.checked:
            try:
                report = check_run(entry.run, self.thresholds, "(dashboard)")
                self.checked[entry.name] = {g.key: g for g in report.groups}
            except (MnistMlpError, KeyError, TypeError, ValueError):
                self.checked[entry.name] = {}
        group = self.checked[entry.name].get(str(case.get("id")))
        if group is None:
            return None
        finite = [s.test_accuracy for s in group.seeds if s.test_accuracy is not None]
        if group.mean is None or not finite:
            return "no finite test accuracy"
        sd = _sd(finite)
        verdict = ("pass" if group.passed else "FAIL") + (f" (≥ {group.mean_threshold * 100:.2f}%)" if group.mean_threshold else "")
        text = f"{group.mean * 100:.2f}%" + (f" ±{sd * 100:.2f}" if sd is not None else "") + f" · {_seeds(len(finite))} · {verdict}"
        return Bar(str(case.get("id")), family(case), group.mean, entry.name, text, sd, sd, group.passed)


def _sd(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _answer(question: Question, runs: Sequence[LoadedRun], read: Reader) -> Question:
    found: dict[str, Bar] = {}
    why: dict[str, str] = {}
    for entry in runs:  # the answering order: the first run with a bar for the case wins
        for case_id, case in _ok_cases(entry):
            if case_id in found:
                continue
            result = read(case, entry)
            if isinstance(result, Bar):
                found[case_id] = result
                why.pop(case_id, None)
            elif isinstance(result, str):
                why.setdefault(case_id, f"{case_id}: {result} ({entry.name})")
    sign = 1.0 if question.lower_is_better else -1.0
    question.bars = sorted(found.values(), key=lambda b: (FAMILIES.index(b.family), sign * b.value, b.case))
    question.missing = list(why.values())
    return question


def _target(runs: Sequence[LoadedRun]) -> float | None:
    for entry in runs:
        for _, case in _ok_cases(entry):
            value = _number(_map(case.get("race")).get("target_accuracy"))
            if value:
                return value
    return None


def machine_verdict(machine: str, runs: Sequence[LoadedRun], thresholds: Mapping[str, Any] | None) -> MachineVerdict:
    """The five questions for one machine's runs (oldest first)."""
    open_runs = sources([e for e in runs if _is_open(e)])
    others = [e for e in runs if not _is_open(e)]
    full = [e for e in others if e.run.get("profile") == FULL_PROFILE]
    profile = FULL_PROFILE
    if not full and others:  # no full-profile run: the newest profile's runs, said so
        profile = str(others[-1].run.get("profile"))
        full = [e for e in others if str(e.run.get("profile")) == profile]
    measured = sources(full)
    target = _target(open_runs)
    where = f"{profile} profile" if profile == FULL_PROFILE else f"the {profile} profile (this machine has no full-profile run)"
    questions = [
        _answer(Question("train-step", "Train: ms per step", "ms", True, note=f"warm steady ms/step, {where}"), measured, _train_step),
        _answer(Question("train-target", f"Train: time to {target * 100:.1f}%" if target else "Train: time to the target", "s", True,
                         note="open division: olympic mean of the seeds' times, kept seeds' range"), open_runs, _train_target),
        _answer(Question("serve-latency", "Serve: batch-1 latency p50", "ms", True, note=f"fastest path, {where}"), measured, _latency),
        _answer(Question("serve-throughput", f"Serve: throughput at batch {SERVE_BATCH:,}", "samples/s", False,
                         note=f"fastest path, median round, {where}"), measured, _throughput),
        _answer(Question("gate", "Accuracy gate: mean test accuracy", "%", False,
                         note="the gate's verdict with today's thresholds"),
                measured if profile == FULL_PROFILE else [], _Gate(thresholds)),
    ]
    for question, why in zip(questions, EMPTY):
        if not question.bars and not question.missing:
            question.missing = [why]
    if profile != FULL_PROFILE:
        questions[-1].missing = ["the gate judges full-profile runs only"]
    elif thresholds is None:
        questions[-1].missing = ["no thresholds to judge by (mnist_mlp/gate/thresholds.json unreadable)"]
    used = [e.name for e in measured + open_runs
            if any(bar.run == e.name for q in questions for bar in q.bars)]
    return MachineVerdict(machine, questions, used, _gate_line(questions[-1]))


def _gate_line(question: Question) -> str:
    if not question.bars:
        return "accuracy gate: not judged (" + ("; ".join(question.missing) or "no trained case") + ")"
    failed = [bar.case for bar in question.bars if bar.passed is False]
    if failed:
        return f"accuracy gate: FAIL: {len(failed)} of {len(question.bars)} cases ({', '.join(failed)})"
    return "accuracy gate: pass: " + ("the one case" if len(question.bars) == 1 else f"all {len(question.bars)} cases")


def _load_thresholds() -> Mapping[str, Any] | None:
    from mnist_mlp.gate import calibration

    try:
        return calibration.load()[0]
    except (MnistMlpError, OSError, ValueError):
        return None


def verdicts(loaded: Sequence[LoadedRun], thresholds: Mapping[str, Any] | None = None) -> list[MachineVerdict]:
    """One verdict per machine that has a bar, the machine of the newest run first."""
    if thresholds is None:
        thresholds = _load_thresholds()
    out = []
    for key, runs in sorted(groups(loaded).items(), key=lambda item: max(e.created for e in item[1]), reverse=True):
        found = machine_verdict(machine_label(key), runs, thresholds)
        if any(q.bars for q in found.questions):
            out.append(found)
    return out
