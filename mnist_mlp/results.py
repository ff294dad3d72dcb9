"""The one result file of a benchmark run (``results.json``): schema, atomic save, validated load.

A run's file is self-describing, so that two runs from different machines can be compared
without anything else. Layout (schema_version 2; version 1 files still load)::

    {
      "schema": "mnist-mlp/results", "schema_version": 1,
      "run_id": "20261127T040000Z_host", "created_utc": "2026-11-27T04:00:00Z",
      "status": "complete" | "partial" | "interrupted",
      "tool": {"name": "mnist-mlp", "version": "0.1.0", "commit": "…" | null, "dirty": bool | null},
      "profile": "quick" | "full" | "custom",
      "machine": {"host", "os", "python", "cpu": {"model", "logical_cores", "physical_cores"},
                  "memory_bytes", "gpus": [{"name", "memory_bytes", "driver"}], "threads": {…},
                  "peak_gflops": {"<case id>": float, …}},   # each case's own peak (higher probe)
      "machine_state_at_start": null | Load,   # the machine watched for a second before the first case
      "software": {"keras": "3.15.1", "tensorflow": …, "jax": …, "torch": …, "numpy": …},
      "dataset": {"sha256": "…", "source": "…"},
      "workload": {"train": TrainConfig without seed, "seeds": [0, …], "batch_sizes": [1, …],
                   "target_accuracy": 0.975, "model": ModelSpec, "profile": {…},
                   "timeout_s": float, "backends": [...], "devices": [...]},
      "cases": [ {
          "id": "jax-cpu", "backend": "jax" | "tensorflow" | "torch" | "numpy", "device": "cpu" | "gpu",
          "status": "ok" | "skipped" | "failed" | "timeout" | "interrupted" | "running",
          "reason": str | null, "stderr_tail": str | null, "duration_s": float,
          "started_utc": "2026-11-27T04:00:05Z", "ended_utc": "…",   # absent for a case never reached
          "raw_benchmark_json": "raw/jax-cpu.json" | null, "log": "raw/jax-cpu.log" | null,
          "device_name": "cpu:0" | null, "note": str | null,   # e.g. which case's weights NumPy served
          "flops": {"layers", "forward_per_sample", "train_per_sample", "weight_gradients_per_sample",
                    "input_gradients_per_sample", "elementwise_per_sample", "optimizer_per_step", …},
          "peak": {"gflops", "before_gflops", "after_gflops", "change_percent", "unstable", "probe", "errors",
                   "given": str | null},   # given: the peak was typed in ($MNIST_MLP_BENCH_PEAK_GFLOPS), not measured
          "precision": {"precision": "fp32" | "tf32", "tf32": bool, "how": str} | null,
          "load": null | {"outside_cores_mean", "outside_cores_max", "steal_percent", "loadavg1_max",
                          "busy", "busy_reasons", …},
          "busy": bool, "unstable": bool, "machine_flags": [str],
          "training": null | {
              "steps_per_epoch": int, "train_samples": int, "target_accuracy": float,
              "cold": {"seeds": [0], "<metric>": Stats}, "warm": {"seeds": [1, …], "<metric>": Stats},
              "per_seed": [{"seed", "condition": "cold" | "warm", "wall_seconds", "first_epoch_seconds", "steady_epoch_seconds",
                            "steady_ms_per_step", "time_to_target_seconds" | null,
                            "epochs_to_target" | null, "test_accuracy", "history": {…}}],
              "wall_seconds" | "first_epoch_seconds" | "steady_epoch_seconds" | "steady_ms_per_step"
              | "time_to_target_seconds" | "test_accuracy": Stats,
              "gflops": float | null, "percent_of_peak": float | null },   # null with a single epoch
          "inference": [ {"path": "predict" | "direct" | "numpy", "batch_size": int,
                          "seconds_per_batch": Stats, "samples_per_second": float,  # batch / median s
                          "gflops": float, "percent_of_peak": float | null,
                          # a profile of passes (``Profile.passes``): each pass's value, and the best
                          "passes": {"samples_per_second": [float | null], "best": float | null}} ],
          "latency_ms": {"<path>": {"p50", "p90", "p99", "rounds", "samples_ms": [per-round ms],
                                    "passes": {"p50": [float | null], "best": float | null}}},
          "agreement": {"max_abs_diff", "argmax_agreement", …} | null,
          "training_agreement": {"steps", "max_diff": {"loss", "gradients", "weights"}, "tolerance",
                                 "per_step": [...], "ok"} | {"skipped": why} | null,   # verify --training
          "confusion_matrix": 10x10 ints | null,
          "latency_probe": null | {"framework_us", "python_us", "before_us", "after_us", "change_percent", "probe"},
                                   # the framework's tiny-op round trip and a Python loop, before/after the case
          "process": {"shared_with": [case ids], "position", "cases"},   # only where cases shared a process (quick)
          "memory": null | {"method": "vmhwm" | "ru_maxrss", "per_phase", "how", "floor_bytes", "floor", "device_counter",
                            "device_scope", "training" | "inference": {"peak_rss_bytes", "baseline_rss_bytes", "device_peak_bytes"}},
          "energy": null | {"measured": false, "why"} | {"measured": true, "counters", "training" | "inference": {"joules", "seconds"}},
          "repeats": [{"repeat": 1, "status", "reason", "duration_s", "training", "inference", "latency_ms",
                       "peak", "latency_probe", "load", "busy", "unstable", "machine_flags", …}, …] } ],
                                   # only in a run of ``bench --repeats N`` (or ``ab``): every repeat, a fresh
                                   # process each, the first included; the case's own figures are the first's
      "gate": null | {…},    # written by the accuracy gate
      "resumed": [{"at": "<UTC>", "cases": ["torch-cpu", …],     # only in a run continued by
                   "replaced": [{"id", "status", "reason"}]}]    # ``bench --resume``, oldest first
    }

A case is ``running`` only on disk: the runner saves that state just before its child starts, so
a run whose parent was killed outright (SIGKILL, the OOM killer, power) says which case it was
in; ``bench --resume`` runs such a case again. A case ``skipped`` with the reason
``NOT_RUN_REASON`` was never reached (the run was interrupted first) and is run by a resume too.

NaN and infinity are not JSON: ``sanitize`` stores them as null, and a training seed lists the
metrics that had them in ``per_seed[].non_finite`` (the accuracy gate fails such a seed).

``Stats`` is ``{"samples": [...], "n", "mean", "stddev", "min", "max", "median"}``: raw samples
next to what is derived from them. Validation refuses what would make a comparison lie:
another tool's JSON, a missing or newer schema version, wrong types, negative times,
accuracies outside [0, 1], NaN where a number must be.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path
from typing import Any, Iterable

from mnist_mlp import atomic
from mnist_mlp.errors import ResultFileError
from mnist_mlp.result_fields import _accuracy, _non_negative, _number, validate_memory, validate_serving
from mnist_mlp.stats import sample_stddev

SCHEMA = "mnist-mlp/results"
#: 2: per-case FLOP model, peak probes, load, busy/unstable flags, precision, cold/warm training;
#: GFLOP/s counted from the layers (version 1 counted a training sample as 3 forward passes)
SCHEMA_VERSION = 2
RESULTS_FILE = "results.json"
CASE_STATUSES = ("ok", "skipped", "failed", "timeout", "interrupted", "running")
#: the reason of a case the runner never reached because the run was interrupted first
NOT_RUN_REASON = "not run: the run was interrupted"
RUN_STATUSES = ("complete", "partial", "interrupted")
INFERENCE_PATHS = ("predict", "direct", "numpy", "runtime")
#: a case id becomes part of file names (raw/<id>.json) and table rows: no path separators, no markup
SAFE_CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")



def utc_now() -> str:
    """Now, as every timestamp of a result file is written: ``2026-11-27T04:00:05Z``."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

def stats(samples: Iterable[float]) -> dict[str, Any]:
    """Raw samples with their count, mean, sample standard deviation, min, max and median."""
    values = [float(v) for v in samples]
    if not values:
        return {"samples": [], "n": 0, "mean": None, "stddev": None, "min": None, "max": None, "median": None}
    return {
        "samples": values,
        "n": len(values),
        "mean": statistics.fmean(values),
        "stddev": sample_stddev(values),
        "min": min(values),
        "max": max(values),
        "median": statistics.median(values),
    }


def sanitize(obj: Any) -> Any:
    """A copy of ``obj`` with every NaN or infinite float replaced by None, ready for strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: sanitize(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(value) for value in obj]
    return obj


def save(run: dict[str, Any], run_dir: str | Path) -> Path:
    """Store NaN/inf as null (``sanitize``), validate, then write ``results.json`` atomically.

    A diverged training run is a result too: it is saved, and the accuracy gate fails it.
    """
    clean = sanitize(run)
    validate(clean, Path(run_dir) / RESULTS_FILE)
    return atomic.write_json(Path(run_dir) / RESULTS_FILE, clean)


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate a results file, or a run directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise ResultFileError(f"{path}: results file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{path}: unreadable ({exc})") from None
    try:
        run = json.loads(text)
    except ValueError as exc:
        raise ResultFileError(f"{path}: not valid JSON, truncated or damaged ({exc})") from None
    except RecursionError:
        raise ResultFileError(f"{path}: not an mnist-mlp results file (JSON nested too deeply)") from None
    spot = _first_non_finite(run)
    if spot is not None:
        field, value = spot
        token = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        raise ResultFileError(
            f"{path}: {field} is {token}, not allowed in a results file (a missing number is stored as null)"
        )
    validate(run, path)
    return run


def _first_non_finite(obj: Any, where: str = "") -> tuple[str, float] | None:
    """The JSON path of the first NaN or infinite number (the tokens NaN, Infinity, or 1e999)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "<top level>", obj
    if isinstance(obj, dict):
        items = ((f"{where}.{key}" if where else str(key), value) for key, value in obj.items())
    elif isinstance(obj, list):
        items = ((f"{where}[{index}]", value) for index, value in enumerate(obj))
    else:
        return None
    for spot, value in items:
        found = _first_non_finite(value, spot)
        if found is not None:
            return found
    return None


def validate(run: Any, path: str | Path = "results") -> None:
    """Raise ``ResultFileError`` naming ``path`` and the field at fault, or return None."""
    where = str(path)
    if not isinstance(run, dict) or run.get("schema") != SCHEMA:
        raise ResultFileError(f"{where}: not an mnist-mlp results file (no \"schema\": \"{SCHEMA}\")")
    version = run.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultFileError(f"{where}: missing or invalid schema_version")
    if version > SCHEMA_VERSION:
        raise ResultFileError(
            f"{where}: schema_version {version} is newer than this mnist-mlp understands ({SCHEMA_VERSION}); upgrade"
        )
    if version < 1:
        raise ResultFileError(f"{where}: schema_version {version} is not a valid version")
    _require(where, run, "run_id", str, top=True)
    _require(where, run, "created_utc", str, top=True)
    _require(where, run, "status", str, choices=RUN_STATUSES, top=True)
    for key in ("machine", "software", "dataset", "workload"):
        _require(where, run, key, dict, top=True)
    machine = run["machine"]
    if machine.get("cpu") is not None and not isinstance(machine["cpu"], dict):
        raise ResultFileError(f"{where}: machine.cpu should be an object")
    if machine.get("gpus") is not None and not (isinstance(machine["gpus"], list) and all(isinstance(g, dict) for g in machine["gpus"])):
        raise ResultFileError(f"{where}: machine.gpus should be a list of objects")
    cases = _require(where, run, "cases", list, top=True)
    for index, case in enumerate(cases):
        _validate_case(f"{where}: cases[{index}]", case)
    _validate_resumed(where, run.get("resumed"))


def _validate_resumed(where: str, resumed: Any) -> None:
    if resumed is None:
        return
    if not isinstance(resumed, list):
        raise ResultFileError(f"{where}: resumed should be list, got {type(resumed).__name__}")
    for index, entry in enumerate(resumed):
        spot = f"{where}: resumed[{index}]"
        if not isinstance(entry, dict):
            raise ResultFileError(f"{spot} is not an object")
        _require(spot, entry, "at", str)
        ids = _require(spot, entry, "cases", list)
        if not all(isinstance(case_id, str) for case_id in ids):
            raise ResultFileError(f"{spot}.cases should list case ids")


def _validate_case(where: str, case: Any) -> None:
    if not isinstance(case, dict):
        raise ResultFileError(f"{where} is not an object")
    case_id = _require(where, case, "id", str)
    if not SAFE_CASE_ID.fullmatch(case_id):
        raise ResultFileError(
            f"{where}.id {case_id!r} may hold only letters, digits, '.', '_' and '-' (it names files and table rows)"
        )
    _require(where, case, "backend", str)
    _require(where, case, "device", str)
    _require(where, case, "status", str, choices=CASE_STATUSES)
    for key in ("started_utc", "ended_utc"):
        if case.get(key) is not None and not isinstance(case[key], str):
            raise ResultFileError(f"{where}.{key} should be str, got {type(case[key]).__name__}")
    if case.get("duration_s") is not None:
        _non_negative(f"{where}.duration_s", case["duration_s"])
    training = case.get("training")
    if training is not None:
        if not isinstance(training, dict):
            raise ResultFileError(f"{where}.training is not an object")
        for index, seed in enumerate(training.get("per_seed") or []):
            spot = f"{where}.training.per_seed[{index}]"
            if not isinstance(seed, dict):
                raise ResultFileError(f"{spot} is not an object")
            for key in ("wall_seconds", "first_epoch_seconds", "steady_epoch_seconds", "steady_train_epoch_seconds", "steady_ms_per_step"):
                if seed.get(key) is not None:
                    _non_negative(f"{spot}.{key}", seed[key])
            if seed.get("time_to_target_seconds") is not None:
                _non_negative(f"{spot}.time_to_target_seconds", seed["time_to_target_seconds"])
            _accuracy(f"{spot}.test_accuracy", seed.get("test_accuracy"))
        for key in (
            "wall_seconds", "first_epoch_seconds", "steady_epoch_seconds", "steady_train_epoch_seconds", "steady_ms_per_step", "time_to_target_seconds"
        ):
            _stats(f"{where}.training.{key}", training.get(key), non_negative=True)
        _stats(f"{where}.training.test_accuracy", training.get("test_accuracy"), accuracy=True)
    for index, row in enumerate(case.get("inference") or []):
        spot = f"{where}.inference[{index}]"
        if not isinstance(row, dict):
            raise ResultFileError(f"{spot} is not an object")
        _require(spot, row, "path", str, choices=INFERENCE_PATHS)
        size = _require(spot, row, "batch_size", int)
        if size < 1:
            raise ResultFileError(f"{spot}.batch_size must be at least 1, got {size}")
        _non_negative(f"{spot}.samples_per_second", row.get("samples_per_second"))
        _stats(f"{spot}.seconds_per_batch", row.get("seconds_per_batch"), non_negative=True)
    latency = case.get("latency_ms")
    if latency is not None:
        if not isinstance(latency, dict) or not all(isinstance(v, dict) for v in latency.values()):
            raise ResultFileError(f"{where}.latency_ms should map each path to an object of percentiles")
        for path, stats in latency.items():
            if stats.get("p50") is not None:
                _non_negative(f"{where}.latency_ms.{path}.p50", stats["p50"])
    flags = case.get("machine_flags")
    if flags is not None and not (isinstance(flags, list) and all(isinstance(f, str) for f in flags)):
        raise ResultFileError(f"{where}.machine_flags should be a list of text")
    probe = case.get("latency_probe")
    if probe is not None:
        if not isinstance(probe, dict):
            raise ResultFileError(f"{where}.latency_probe is not an object")
        for key in ("framework_us", "python_us", "before_us", "after_us"):
            if probe.get(key) is not None:
                _non_negative(f"{where}.latency_probe.{key}", probe[key])
    race = case.get("race")
    if race is not None:  # the open division: the score and the seeds it is made of
        if not isinstance(race, dict) or not isinstance(race.get("score"), dict) or not isinstance(race.get("per_seed"), list):
            raise ResultFileError(f"{where}.race should be an object with a score and per_seed")
        score = race["score"]
        for key in ("seeds", "reached"):  # what every table of the race prints ("8 of 10")
            _require(f"{where}.race.score", score, key, int)
            _non_negative(f"{where}.race.score.{key}", score[key])
        if score["reached"] > score["seeds"]:
            raise ResultFileError(f"{where}.race.score.reached is {score['reached']}, more than its {score['seeds']} seeds")
        if race["per_seed"] and score["seeds"] != len(race["per_seed"]):  # a summary alone (no seeds) is no lie
            raise ResultFileError(f"{where}.race.score.seeds is {score['seeds']}, but per_seed holds {len(race['per_seed'])}")
        reached = sum(1 for seed in race["per_seed"] if isinstance(seed, dict) and seed.get("reached") is True)
        if race["per_seed"] and score["reached"] != reached:
            raise ResultFileError(f"{where}.race.score.reached is {score['reached']}, but {reached} of per_seed reached the target")
        for key in ("seconds", "low", "high"):
            if score.get(key) is not None:
                _non_negative(f"{where}.race.score.{key}", score[key])
        for index, seed in enumerate(race["per_seed"]):
            spot = f"{where}.race.per_seed[{index}]"
            if not isinstance(seed, dict):
                raise ResultFileError(f"{spot} is not an object")
            _non_negative(f"{spot}.seconds", seed.get("seconds"))
            _accuracy(f"{spot}.test_accuracy", seed.get("test_accuracy"))
    validate_memory(where, case.get("memory"), case.get("energy"))  # peak bytes per phase (whole, >= 0) and joules
    validate_serving(where, case.get("serving"), case.get("cold_start"))
    repeats = case.get("repeats")
    if repeats is not None:
        if not isinstance(repeats, list):
            raise ResultFileError(f"{where}.repeats should be a list of the case's repeats")
        for index, entry in enumerate(repeats):
            spot = f"{where}.repeats[{index}]"
            if not isinstance(entry, dict) or "repeats" in entry:
                raise ResultFileError(f"{spot} is not one repeat's figures")
            number = _require(spot, entry, "repeat", int)
            if number < 1:
                raise ResultFileError(f"{spot}.repeat must be at least 1, got {number}")
            _validate_case(spot, {**entry, "id": case_id, "backend": case["backend"], "device": case["device"]})


def _require(
    where: str, obj: dict, key: str, kind: type, choices: tuple | None = None, *, top: bool = False
) -> Any:
    if key not in obj:
        raise ResultFileError(f"{where}: missing field {key!r}")
    value = obj[key]
    field = f"{where}: {key}" if top else f"{where}.{key}"
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ResultFileError(f"{field} should be {kind.__name__}, got {type(value).__name__}")
    if choices is not None and value not in choices:
        raise ResultFileError(f"{field} is {value!r}, expected one of {', '.join(choices)}")
    return value


def _stats(where: str, value: Any, non_negative: bool = False, accuracy: bool = False) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ResultFileError(f"{where} should be a statistics object")
    samples = value.get("samples", [])
    if not isinstance(samples, list):
        raise ResultFileError(f"{where}.samples should be a list")
    check = _accuracy if accuracy else _non_negative if non_negative else _number
    for index, sample in enumerate(samples):
        check(f"{where}.samples[{index}]", sample)
    for key in ("mean", "min", "max", "median", "stddev"):
        if value.get(key) is not None:
            (_non_negative if key == "stddev" else check)(f"{where}.{key}", value[key])
