"""Checks of single fields of a results.json case: numbers, accuracies, and the records of memory,
energy, serving and cold start. Apart from ``results`` so that module stays one job (the schema and
its walk); every failure is a one-line ``ResultFileError`` naming the field's place in the file.
"""

from __future__ import annotations

import math
from typing import Any

from mnist_mlp.errors import ResultFileError


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultFileError(f"{where} should be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ResultFileError(f"{where} is {value}, not a finite number")
    return float(value)


def _non_negative(where: str, value: Any) -> None:
    if _number(where, value) < 0:
        raise ResultFileError(f"{where} is negative ({value})")


def _accuracy(where: str, value: Any) -> None:
    if value is None:
        return
    number = _number(where, value)
    if not 0.0 <= number <= 1.0:
        raise ResultFileError(f"{where} is {value}, outside [0, 1]")


def validate_memory(where: str, memory: Any, energy: Any) -> None:
    for key, value in (("memory", memory), ("energy", energy)):
        if value is not None and not isinstance(value, dict):
            raise ResultFileError(f"{where}.{key} should be an object, got {type(value).__name__}")
    if energy is not None and not isinstance(energy.get("measured"), bool):
        raise ResultFileError(f"{where}.energy.measured should be true or false")
    for phase in ("training", "inference"):
        entry, spent = (memory or {}).get(phase), (energy or {}).get(phase)
        if entry is not None and not isinstance(entry, dict):
            raise ResultFileError(f"{where}.memory.{phase} should be an object, got {type(entry).__name__}")
        if spent is not None and not (isinstance(spent, dict) and isinstance(spent.get("joules"), dict)):
            raise ResultFileError(f"{where}.energy.{phase} should be an object with joules per counter")
        for counter, joules in [(c, j) for c, j in ((spent or {}).get("joules") or {}).items() if j is not None]:
            _non_negative(f"{where}.energy.{phase}.joules.{counter}", joules)
    sizes = [(f"{p}.{k}", v) for p in ("training", "inference") for k, v in ((memory or {}).get(p) or {}).items()]
    for key, value in [*sizes, ("floor_bytes", (memory or {}).get("floor_bytes"))]:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ResultFileError(f"{where}.memory.{key} should be a whole number of bytes, got {value!r}")


def validate_serving(where: str, serving: Any, cold_start: Any) -> None:
    """A serving case's check (``serving.check``) and any case's cold start (``serving.cold``)."""
    for key, value in (("serving", serving), ("cold_start", cold_start)):
        if value is not None and not isinstance(value, dict):
            raise ResultFileError(f"{where}.{key} should be an object, got {type(value).__name__}")
    if serving is not None:
        _non_negative(f"{where}.serving.max_abs_diff", serving.get("max_abs_diff"))
        for key in ("test_accuracy", "reference_accuracy"):
            _accuracy(f"{where}.serving.{key}", serving.get(key))
        for key in ("reduced", "ok"):
            if not isinstance(serving.get(key), bool):
                raise ResultFileError(f"{where}.serving.{key} should be true or false, got {serving.get(key)!r}")
        if serving.get("artifact_bytes") is not None:
            _non_negative(f"{where}.serving.artifact_bytes", serving["artifact_bytes"])
    for key in ("interpreter_s", "imports_s", "load_s", "first_call_s", "total_s", "artifact_bytes"):
        if (cold_start or {}).get(key) is not None:
            _non_negative(f"{where}.cold_start.{key}", cold_start[key])
