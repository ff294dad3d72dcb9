"""What the dashboard shows of one run: its machine's row, and each case's headline figures.

Read defensively: a run of an older schema (version 1: no cold/warm split, no per-case peak) or a
case that did not finish simply has fewer figures; nothing here raises on a missing field.

Each figure has a *kind* that says which way is better and how it scales with the machine's peak:
``time`` (lower is faster; per unit of peak: value x peak GFLOP/s, the time a 1 GFLOP/s machine
would take if the case scaled with its peak), ``rate`` (higher is faster; per unit of peak: value
/ peak GFLOP/s), ``accuracy`` and ``percent`` (already independent of the machine's speed: the
same in both bases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

#: the MLPerf-style system columns first (its results tables: system, processor, accelerator
#: and count, software), then the run's own
SYSTEM_COLUMNS = (
    "host", "CPU model", "cores (logical/physical)", "memory", "accelerator", "count", "OS", "Python", "Keras",
    "TensorFlow", "JAX", "PyTorch", "NumPy", "commit", "date (UTC)", "profile", "seeds",
)
#: the machine and software fields already shown in SYSTEM_COLUMNS (dotted paths)
SHOWN_FIELDS = {
    "machine.host", "machine.os", "machine.python", "machine.cpu.model", "machine.cpu.logical_cores",
    "machine.cpu.physical_cores", "machine.memory_bytes", "machine.gpus", "machine.peak_gflops",
    "software.keras", "software.tensorflow", "software.jax", "software.torch", "software.numpy",
}
SPEED_KINDS = ("time", "rate")


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    kind: str  # time, rate, accuracy, percent
    unit: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "label": self.label, "kind": self.kind, "unit": self.unit}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def case_peak(run: Mapping[str, Any], case: Mapping[str, Any]) -> float | None:
    """The case's own measured FP32 peak in GFLOP/s (the higher probe), else the run's record of it."""
    peak = _number(_get(case, "peak", "gflops"))
    if peak is None:
        peak = _number(_get(run, "machine", "peak_gflops", str(case.get("id"))))
    return peak if peak and peak > 0 else None


def case_figures(case: Mapping[str, Any]) -> dict[Figure, float]:
    """The headline figures of one finished case (empty for a case that did not end ``ok``)."""
    out: dict[Figure, float] = {}
    if case.get("status") != "ok":
        return out
    training = case.get("training") if isinstance(case.get("training"), Mapping) else {}

    def put(figure: Figure, value: Any) -> None:
        number = _number(value)
        if number is not None:
            out[figure] = number

    warm = _get(training, "warm", "steady_ms_per_step", "mean")
    put(Figure("train.warm_ms_per_step", "warm steady ms/step", "time", "ms"),
        warm if warm is not None else _get(training, "steady_ms_per_step", "mean"))
    cold = _get(training, "cold", "wall_seconds", "mean")
    per_seed = training.get("per_seed") if isinstance(training.get("per_seed"), list) else []
    if cold is None and per_seed and isinstance(per_seed[0], Mapping):
        cold = per_seed[0].get("wall_seconds")  # seed 0 runs first in its process: the cold one
    put(Figure("train.cold_wall_s", "cold wall time", "time", "s"), cold)
    put(Figure("train.test_accuracy", "test accuracy", "accuracy", "%"), _get(training, "test_accuracy", "mean"))
    put(Figure("train.percent_of_peak", "training % of peak", "percent", "%"), training.get("percent_of_peak"))
    rows = [r for r in case.get("inference") or [] if isinstance(r, Mapping)]
    for row in sorted(rows, key=lambda r: (str(r.get("path")), r.get("batch_size") or 0)):
        path, size = row.get("path"), row.get("batch_size")
        put(Figure(f"infer.{path}.{size}", f"samples/s, {path}, batch {size}", "rate", "/s"), row.get("samples_per_second"))
    latency = case.get("latency_ms") if isinstance(case.get("latency_ms"), Mapping) else {}
    for path in sorted(latency):
        for cut in ("p50", "p99"):
            put(Figure(f"latency.{path}.{cut}", f"batch-1 {cut}, {path}", "time", "ms"), _get(latency, path, cut))
    # the open division: the olympic-mean time to the target (absent where the case has no score)
    put(Figure("race.score_s", "time to target (open division)", "time", "s"), _get(case, "race", "score", "seconds"))
    # a fresh process to its first correct prediction (the full profile's inference cases)
    put(Figure("cold_start.total_s", "cold start to the first prediction", "time", "s"), _get(case, "cold_start", "total_s"))
    for phase in ("training", "inference"):  # peak resident memory of the phase (not in the score: not a speed)
        peak = _number(_get(case, "memory", phase, "peak_rss_bytes"))
        put(Figure(f"memory.{phase}_peak", f"{phase} peak memory (RSS)", "memory", "MiB"), None if peak is None else peak / 2**20)
    return out


def per_peak(figure: Figure, value: float, peak: float | None) -> float | None:
    """``value`` per unit of the case's measured peak (module docstring); None without a peak."""
    if figure.kind not in SPEED_KINDS:
        return value
    if peak is None:
        return None
    return value * peak if figure.kind == "time" else value / peak


def _gib(value: Any) -> str:
    number = _number(value)
    return "" if number is None else f"{number / 2**30:.1f} GiB"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _flatten(obj: Any, prefix: str) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        flat: dict[str, Any] = {}
        for key, value in obj.items():
            flat.update(_flatten(value, f"{prefix}.{key}"))
        return flat
    return {prefix: obj}


def machine_row(run: Mapping[str, Any]) -> dict[str, str]:
    """The run's system columns (``SYSTEM_COLUMNS``), as text; missing fields are empty."""
    machine = run.get("machine") if isinstance(run.get("machine"), Mapping) else {}
    cpu = machine.get("cpu") if isinstance(machine.get("cpu"), Mapping) else {}
    software = run.get("software") if isinstance(run.get("software"), Mapping) else {}
    gpus = [g for g in machine.get("gpus") or [] if isinstance(g, Mapping)]
    names = sorted({_text(g.get("name")) for g in gpus})
    cores = "/".join(_text(cpu.get(k)) for k in ("logical_cores", "physical_cores") if cpu.get(k) is not None)
    tool = run.get("tool") if isinstance(run.get("tool"), Mapping) else {}
    commit = _text(tool.get("commit"))[:10] + (" (edited)" if tool.get("dirty") else "")
    seeds = _get(run, "workload", "seeds")
    return {
        "host": _text(machine.get("host")), "CPU model": _text(cpu.get("model")),
        "cores (logical/physical)": cores, "memory": _gib(machine.get("memory_bytes")),
        "accelerator": ", ".join(names) or "none", "count": str(len(gpus)), "OS": _text(machine.get("os")),
        "Python": _text(machine.get("python")), "Keras": _text(software.get("keras")),
        "TensorFlow": _text(software.get("tensorflow")), "JAX": _text(software.get("jax")),
        "PyTorch": _text(software.get("torch")), "NumPy": _text(software.get("numpy")), "commit": commit,
        "date (UTC)": _text(run.get("created_utc")), "profile": _text(run.get("profile")),
        "seeds": seed_list(seeds),
    }


def other_fields(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every other machine and software field the run carries, as (dotted key, text)."""
    flat = {**_flatten(run.get("machine") or {}, "machine"), **_flatten(run.get("software") or {}, "software")}
    return [(key, _text(value)) for key, value in sorted(flat.items())
            if not any(key == shown or key.startswith(shown + ".") for shown in SHOWN_FIELDS)]


def case_flags(run: Mapping[str, Any]) -> list[str]:
    """``jax-cpu: busy`` / ``jax-cpu: unstable`` for every case measured on a machine that was not clean."""
    out = []
    for case in run.get("cases") or []:
        kinds = [kind for kind in ("busy", "unstable") if case.get(kind)]
        for flag in case.get("machine_flags") or []:
            kind = str(flag).split(":")[0]
            if kind in ("busy", "unstable") and kind not in kinds:
                kinds.append(kind)
        if kinds:
            out.append(f"{case.get('id')}: {', '.join(kinds)}")
    return out


def case_statuses(run: Mapping[str, Any]) -> list[str]:
    """``ok: jax-cpu, torch-cpu``, ``skipped: jax-gpu, torch-gpu (no GPU ...)``: the cases by how they ended."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for case in run.get("cases") or []:
        status = str(case.get("status"))
        reason = "" if status == "ok" or not case.get("reason") else str(case.get("reason"))
        grouped.setdefault((status, reason), []).append(str(case.get("id")))
    return [f"{status}: {', '.join(ids)}" + (f" ({reason})" if reason else "") for (status, reason), ids in grouped.items()]


def seed_list(seeds: Any) -> str:
    """``0, 1, 2`` or ``10-29`` for a long run of consecutive seeds."""
    if not isinstance(seeds, list) or not seeds:
        return ""
    if len(seeds) > 3 and all(isinstance(s, int) for s in seeds) and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]} ({len(seeds)})"
    return _text(seeds)


def gate_word(run: Mapping[str, Any]) -> str:
    """``, gate pass`` / ``, gate FAIL`` when the accuracy gate judged the run, else empty."""
    gate = run.get("gate")
    if not isinstance(gate, Mapping) or "passed" not in gate:
        return ""
    return ", gate pass" if gate.get("passed") else ", gate FAIL"


def machine_key(run: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """The same machine: same host name, CPU model and GPUs (names, sorted)."""
    machine = run.get("machine") if isinstance(run.get("machine"), Mapping) else {}
    cpu = machine.get("cpu") if isinstance(machine.get("cpu"), Mapping) else {}
    gpus = tuple(sorted(_text(g.get("name")) for g in machine.get("gpus") or [] if isinstance(g, Mapping)))
    return _text(machine.get("host")), _text(cpu.get("model")), gpus
