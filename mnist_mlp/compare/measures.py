"""The headline metrics of one case in one run, and the samples behind each (see the package docstring).

Memory (``memory.<phase>.peak_rss``, MiB; ``MEMORY_METRICS``) is a metric of its own kind, lower is
better like a time but bound by no probe of the machine's speed, so nothing scales it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Mapping

from mnist_mlp.stats import is_number, sample_stddev


#: (key in ``training``, label, kind, unit) of the training metrics, in display order
TRAINING_METRICS = (
    ("wall_seconds", "training wall time", "time", "s"),
    ("steady_ms_per_step", "steady-state time per step", "time", "ms"),
    ("time_to_target_seconds", "time to target accuracy", "time", "s"),
    ("test_accuracy", "test accuracy", "accuracy", "%"),
)


#: (key in a phase of ``memory``, metric name, label) of the memory metrics: lower is better
MEMORY_METRICS = (
    ("peak_rss_bytes", "peak_rss", "peak resident memory"),
    ("device_peak_bytes", "device_peak", "peak device memory"),
)


@dataclass
class Measure:
    """One metric of one case in one run: the headline value and the samples behind it."""

    value: float | None
    samples: list[float] = field(default_factory=list)
    note: str = ""
    #: whether the samples are independent draws of the figure (repeats: each a fresh process; for
    #: accuracy also seeds: each trains anew) or draws inside one process (rounds, or the seeds'
    #: times), which share its machine state: those show the process's spread but feed no test
    independent: bool = True
    #: where the samples are repeats: each repeat's own speed of the probe that bounds the figure
    #: (``bound_of``: the peak, or the latency probe), so each sample is taken per unit of its own
    peaks: list[float | None] = field(default_factory=list)
    #: "repeats" when the samples are the case's repeats, each a fresh process; "" otherwise
    source: str = ""
    #: a figure measured in passes (``Profile.passes``): each pass's value, in the figure's unit
    passes: list[float] = field(default_factory=list)
    #: and the best of them (a time's lowest, a rate's highest), what ``ab`` judges (``judged``)
    best_pass: float | None = None

    @property
    def judged(self) -> float | None:
        """The value a paired judgment compares (``compare.paired``): the best pass where the figure
        was measured in passes, since the windows a shared machine runs slow in hit a pass but
        rarely all of them; the value otherwise."""
        return self.best_pass if self.best_pass is not None else self.value

    @property
    def stddev(self) -> float | None:
        return sample_stddev(self.samples)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str  # "time" (lower is faster), "rate" (higher is faster), "accuracy", "memory" (lower is smaller)
    unit: str
    #: "cold" (the first seed of its process), "warm" (the later seeds), "" where the figure is
    #: neither (accuracy; steady per-step times and inference, warm by construction)
    condition: str = ""


#: the training times that differ between the cold seed and the warm ones: compared apart, never averaged
COLD_WARM_METRICS = ("wall_seconds", "time_to_target_seconds")


def case_metrics(case: Mapping[str, Any]) -> dict[Metric, Measure]:
    """The headline metrics of one case, in display order.

    A case run as repeats (``bench --repeats N``, each a fresh process) gives each time and rate one
    value per repeat that ended ok: those are its samples, independent draws of the figure (their
    geometric mean is the value). Accuracy stays the first repeat's seeds: every repeat trains the
    same seeds, so its repeats are no new draws of the accuracy. A case of one process
    gives one value per metric; its seeds' times share that process's machine state, so only the
    seeds' accuracies count as a sample.
    """
    repeats = [entry for entry in (case.get("repeats") or []) if isinstance(entry, Mapping) and entry.get("status") == "ok"]
    if len(repeats) >= 2:
        return _over_repeats(repeats)
    return process_metrics(case)


def center(values: list[float], kind: str) -> float:
    """The value of a sample of repeats: the geometric mean of times and rates (they are compared
    on the log scale), the arithmetic mean of accuracies."""
    if kind in ("time", "rate") and values and min(values) > 0:
        return math.exp(statistics.fmean(math.log(v) for v in values))
    return statistics.fmean(values)


def _over_repeats(repeats: list[Mapping[str, Any]]) -> dict[Metric, Measure]:
    per_repeat = [(process_metrics(entry), entry) for entry in repeats]
    metrics: list[Metric] = []
    for found, _ in per_repeat:
        metrics.extend(m for m in found if m not in metrics)
    out: dict[Metric, Measure] = {}
    for metric in metrics:
        if metric.kind == "accuracy":  # every repeat trains the same seeds: its accuracies are the first's
            out[metric] = per_repeat[0][0].get(metric) or Measure(None)
            continue
        pairs = [(found[metric].value, case_speed(entry, bound_of(metric))) for found, entry in per_repeat
                 if metric in found and found[metric].value is not None]
        values = [float(v) for v, _ in pairs]
        if not values:
            out[metric] = Measure(None, note=f"no value in {len(repeats)} repeats")
            continue
        missing = len(repeats) - len(values)
        note = f"{len(values)} repeats" + (f" ({missing} without a value)" if missing else "")
        out[metric] = Measure(center(values, metric.kind), values, note, independent=True,
                              peaks=[peak for _, peak in pairs], source="repeats")
    return out


def process_metrics(case: Mapping[str, Any]) -> dict[Metric, Measure]:
    """The metrics of one process's figures (a case, or one of its repeats)."""
    out: dict[Metric, Measure] = {}
    training = case.get("training") or {}
    per_seed = training.get("per_seed") or []
    for key, label, kind, unit in TRAINING_METRICS:
        if not per_seed and not training.get(key):
            continue
        if key in COLD_WARM_METRICS and per_seed:
            cold, warm = split_cold_warm(per_seed)
            out[Metric(f"training.{key}.cold", f"{label}, cold", kind, unit, "cold")] = _seed_measure(cold, None, key)
            if warm:
                out[Metric(f"training.{key}.warm", f"{label}, warm", kind, unit, "warm")] = _seed_measure(warm, None, key)
            continue
        out[Metric(f"training.{key}", label, kind, unit)] = _seed_measure(per_seed, training.get(key), key)
    inference = case.get("inference") or []
    for row in sorted(inference, key=lambda r: (r["path"], r["batch_size"])):
        size = row["batch_size"]
        metric = Metric(f"inference.{row['path']}.{size}", f"inference samples/s, {row['path']}, batch {size}", "rate", "/s")
        seconds = (row.get("seconds_per_batch") or {}).get("samples") or []
        out[metric] = Measure(row["samples_per_second"], [size / s for s in seconds if s > 0], independent=False,
                              **_passes(row.get("passes"), "samples_per_second"))
    for path, latency in sorted((case.get("latency_ms") or {}).items()):
        latency = latency if isinstance(latency, dict) else {}
        samples = latency.get("samples_ms") if isinstance(latency.get("samples_ms"), list) else []
        out[Metric(f"latency.{path}.p50", f"batch-1 latency p50, {path}", "time", "ms")] = Measure(
            latency.get("p50"), [float(v) for v in samples if is_number(v)], independent=False,
            **_passes(latency.get("passes"), "p50"),
        )
    race = case.get("race")
    if isinstance(race, Mapping) and isinstance(race.get("score"), Mapping):
        # the open division's score; its seeds share one process, so they are no sample of their own
        seeds = [float(s["seconds"]) for s in race.get("per_seed") or [] if s.get("reached") and is_number(s.get("seconds"))]
        out[Metric("race.score", "time to target, open division (olympic mean)", "time", "s")] = Measure(
            race["score"].get("seconds"), seeds, "" if race["score"].get("seconds") is not None else race["score"].get("why") or "",
            independent=False)
    out.update(memory_metrics(case))
    return out


def _passes(found: Any, key: str) -> dict[str, Any]:
    """``passes`` and ``best_pass`` of a Measure from a row's ``passes`` record (``bench.collect``)."""
    if not isinstance(found, Mapping) or not isinstance(found.get(key), list) or not is_number(found.get("best")):
        return {}
    return {"passes": [float(v) for v in found[key] if is_number(v)], "best_pass": float(found["best"])}


def memory_metrics(case: Mapping[str, Any]) -> dict[Metric, Measure]:
    """Each phase's peak memory in MiB (``memory`` of the record: ``bench.memory``); a figure that is
    the process's peak so far rather than the phase's (``ru_maxrss``) says so in its note."""
    memory = case.get("memory")
    if not isinstance(memory, Mapping):
        return {}
    notes = {"peak_rss_bytes": "" if memory.get("per_phase") else "the process's peak so far (ru_maxrss)",
             "device_peak_bytes": "" if memory.get("device_scope") != "process"
             else f"the process's peak so far ({memory.get('device_counter')})"}
    out: dict[Metric, Measure] = {}
    for phase in ("training", "inference"):
        entry = memory.get(phase) if isinstance(memory.get(phase), Mapping) else {}
        for key, name, label in MEMORY_METRICS:
            if is_number(entry.get(key)):
                out[Metric(f"memory.{phase}.{name}", f"{label}, {phase}", "memory", "MiB")] = Measure(
                    float(entry[key]) / 2**20, [], notes[key])
    return out


def split_cold_warm(per_seed: list[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(cold seeds, warm seeds): each seed's own ``condition`` where the harness wrote one, else the
    first seed of the process is cold and the rest warm (the harness's rule, ``collect.cold_and_warm``)."""
    if all(seed.get("condition") in ("cold", "warm") for seed in per_seed):
        return ([s for s in per_seed if s["condition"] == "cold"], [s for s in per_seed if s["condition"] == "warm"])
    return list(per_seed[:1]), list(per_seed[1:])


def case_peak(case: Mapping[str, Any]) -> dict[str, Any] | None:
    """The case's measured peak as collect wrote it (``gflops``, before/after, ``change_percent``,
    ``given``), or None when the case has none."""
    peak = case.get("peak")
    return dict(peak) if isinstance(peak, Mapping) and is_number(peak.get("gflops")) and peak["gflops"] > 0 else None


def recipe_difference(base: Mapping[str, Any], other: Mapping[str, Any]) -> str:
    """What differs between two cases' open-division recipes (``race.recipe``), as
    ``"steps_per_execution 1 -> 250"``; "" when they race the same one, or neither case races. A
    field a recipe does not name is its default (a run written before the field existed); numbers
    equal to rounding are the same; a case whose recipe is not recorded differs by that."""
    from mnist_mlp.race.recipe import Recipe

    recipes = []
    for case in (base, other):
        race = case.get("race")
        recipes.append(race.get("recipe") if isinstance(race, Mapping) else None)
    if recipes[0] is None and recipes[1] is None:
        return ""
    if not all(isinstance(recipe, Mapping) for recipe in recipes):
        return "the recipe of one run is not recorded"
    defaults = {spec.name: spec.default for spec in fields(Recipe) if spec.default is not MISSING}
    full = [{**defaults, **recipe} for recipe in recipes]

    def same(a: Any, b: Any) -> bool:
        return math.isclose(a, b, rel_tol=1e-9) if is_number(a) and is_number(b) else a == b

    def shown(value: Any) -> str:
        return f"{value:g}" if is_number(value) else repr(value)

    return ", ".join(f"{key} {shown(full[0].get(key))} -> {shown(full[1].get(key))}"
                     for key in sorted(set(full[0]) | set(full[1]))
                     if key != "name" and not same(full[0].get(key), full[1].get(key)))


#: inference batches from this size on are bound by matmul throughput (the peak); smaller batches,
#: training steps of batch 32 and batch-1 latency by the round trip of a call (the latency probe)
PEAK_BOUND_BATCH = 1024


def bound_of(metric: Metric) -> str:
    """Which probe bounds a figure on a CPU: "peak" (the FP32 matmul peak) or "latency" (the
    framework's tiny-op round trip); "" for accuracy and memory, which no machine speed explains."""
    if metric.kind in ("accuracy", "memory"):
        return ""
    if metric.key.startswith("inference."):
        return "peak" if int(metric.key.rsplit(".", 1)[1]) >= PEAK_BOUND_BATCH else "latency"
    return "latency"


def case_latency(case: Mapping[str, Any]) -> dict[str, Any] | None:
    """The case's latency probe as collect wrote it (``framework_us``, ``python_us``, before/after,
    ``change_percent``), with its ``speed``: tiny-op calls per second, so it scales figures as a
    peak does; None when the case has none."""
    probe = case.get("latency_probe")
    if not isinstance(probe, Mapping) or not is_number(probe.get("framework_us")) or probe["framework_us"] <= 0:
        return None
    return {**probe, "speed": 1e6 / float(probe["framework_us"])}


def case_speed(case: Mapping[str, Any], bound: str) -> float | None:
    """The machine speed that bounds a figure of ``bound`` (``bound_of``): GFLOP/s of the peak, or
    tiny-op calls per second of the latency probe."""
    found = case_peak(case) if bound == "peak" else case_latency(case) if bound == "latency" else None
    return None if found is None else float(found["gflops"] if bound == "peak" else found["speed"])


def _seed_measure(per_seed: list[Mapping[str, Any]], summary: Mapping[str, Any] | None, key: str) -> Measure:
    values = [seed.get(key) for seed in per_seed]
    finite = [float(v) for v in values if is_number(v)]
    note = ""
    if len(finite) < len(values):
        missing = len(values) - len(finite)
        note = f"{missing} of {len(values)} seeds: " + ("target not reached" if key == "time_to_target_seconds" else "no value")
    if not finite and summary and isinstance(summary.get("samples"), list):
        finite = [float(v) for v in summary["samples"] if v is not None]
    value = statistics.fmean(finite) if finite else None
    # seeds are independent draws of an accuracy (each trains anew), not of a time: the seeds of
    # one process share its machine state, and their mean moves with it from run to run
    return Measure(value, finite, note, independent=key == "test_accuracy")
