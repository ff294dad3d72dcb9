"""Whether two runs measured the same work, and how their setups and machines differ."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

#: the workload keys that define the measured work; the rest (seeds, batch sizes, backends,
#: devices, timeout, profile) choose how much is measured, or where
COMPARED_WORKLOAD_KEYS = ("train", "model", "target_accuracy")
#: measured on every run (so never identical), not a property of the machine's setup
MEASURED_MACHINE_KEYS = ("machine.peak_gflops",)


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        flat: dict[str, Any] = {}
        for key, value in obj.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(obj, list) and any(isinstance(v, dict) for v in obj):
        flat = {}
        for index, value in enumerate(obj):
            flat.update(_flatten(value, f"{prefix}[{index}]"))
        return flat or {prefix: []}
    return {prefix: obj}


def _differing(dicts: Sequence[Mapping[str, Any]], prefix: str) -> list[tuple[str, list[Any]]]:
    flats = [_flatten(d or {}, prefix) for d in dicts]
    keys = sorted(set().union(*flats))
    return [(k, [f.get(k) for f in flats]) for k in keys if len({repr(f.get(k)) for f in flats}) > 1]


def not_comparable_reasons(base: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """Why ``other`` cannot be compared with ``base`` (empty when it can)."""
    reasons = []
    if base.get("schema_version") != other.get("schema_version"):
        reasons.append(f"schema_version {other.get('schema_version')} vs {base.get('schema_version')}")
    sha_a, sha_b = (r.get("dataset", {}).get("sha256") for r in (base, other))
    if sha_a != sha_b:
        reasons.append(f"dataset sha256 {str(sha_b)[:12]}… vs {str(sha_a)[:12]}…")
    for key, (value_a, value_b) in _differing([measured_workload(base), measured_workload(other)], "workload"):
        reasons.append(f"{key} {value_b!r} vs {value_a!r}")
    return reasons


def measured_workload(run: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``run["workload"]`` that defines the measured work (see the module docstring)."""
    workload = run.get("workload") or {}
    measured = {key: workload.get(key) for key in COMPARED_WORKLOAD_KEYS}
    if isinstance(measured["train"], dict):
        measured["train"] = {k: v for k, v in measured["train"].items() if k != "seed"}
    return measured


def setup_differences(runs: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    """How much was measured, and where, when it differs: profile, seeds, batch sizes, backends..."""
    chosen = [
        {"profile": r.get("profile"),
         "workload": {k: v for k, v in (r.get("workload") or {}).items() if k not in COMPARED_WORKLOAD_KEYS}}
        for r in runs
    ]
    return _differing(chosen, "")


def machine_differences(runs: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Dotted keys of machine, software and tool whose values differ between the runs."""
    out = []
    for section in ("machine", "software", "tool"):
        out.extend(_differing([r.get(section) or {} for r in runs], section))
    return [(k, v) for k, v in out if not k.startswith(MEASURED_MACHINE_KEYS)]
