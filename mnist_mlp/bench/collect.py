"""Turn one child's raw pytest-benchmark JSON into a ``cases[]`` entry of results.json.

The raw file stays untouched next to results.json (``pytest-benchmark compare`` reads it); this
module only reads it, recognising each benchmark by its ``extra_info["kind"]`` rather than by
its test name, and derives GFLOP/s and percent of the measured peak. Each phase's peak memory
and energy come from the child's machine info (``bench.memory``, ``bench.energy``).

A child that crashed or timed out after its training test has no raw JSON (pytest-benchmark
writes it at session end) but may have left the training side file (``raw/<case>.training.json``,
``suite.write_training``); ``merge_training_side`` puts that training benchmark back, so the
case keeps its failed/timeout status and its finished training.
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import Any

from mnist_mlp.bench import metrics
from mnist_mlp.bench.memory import FLOOR_BYTES, FLOOR_TEXT, PHASES
from mnist_mlp.results import sanitize, stats
from mnist_mlp.stats import non_finite_keys, probe_change_percent, probes_unstable

log = logging.getLogger(__name__)

#: per-seed values checked for NaN/inf (``per_seed[].non_finite``): the value, or any history entry

TRAINING_STATS = (
    "wall_seconds", "first_epoch_seconds", "steady_epoch_seconds", "steady_train_epoch_seconds", "steady_ms_per_step",
    "time_to_target_seconds", "test_accuracy",
)


def read_raw(path: Path) -> dict[str, Any] | None:
    """The raw JSON, or None when the child wrote none (or a damaged one)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.info("%s: no usable raw benchmark JSON (%s)", path, exc)
        return None


def training_side_path(raw_json: Path) -> Path:
    """``raw/<case>.training.json`` beside ``raw/<case>.json``."""
    return raw_json.with_name(raw_json.stem + ".training.json")


#: the kinds of benchmark a training side file holds: the seed workload's, the open division's race
TRAINING_KINDS = ("training", "race")


def _has_training(raw: dict[str, Any] | None) -> bool:
    return any(
        ((bench or {}).get("extra_info") or {}).get("kind") in TRAINING_KINDS
        for bench in ((raw or {}).get("benchmarks") or [])
    )


def merge_training_side(raw: dict[str, Any] | None, side: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """``raw`` with the side file's training benchmark added when raw is missing or lacks one.

    Returns (raw, recovered): ``recovered`` says the training came from the side file.
    """
    bench = (side or {}).get("benchmark") if isinstance(side, dict) else None
    if not isinstance(bench, dict) or (bench.get("extra_info") or {}).get("kind") not in TRAINING_KINDS or _has_training(raw):
        return raw, False
    merged = dict(raw) if isinstance(raw, dict) else {}
    machine_info = dict(side.get("machine_info") or {})
    machine_info.update(merged.get("machine_info") or {})
    merged["machine_info"] = machine_info
    merged["benchmarks"] = [bench, *(merged.get("benchmarks") or [])]
    return merged, True




def case_peak(raw: dict[str, Any] | None, fallback: float | None = None) -> dict[str, Any] | None:
    """The peak a case is judged against: its own device's probes, before and after it.

    The higher of the two is the ceiling (a probe slowed by a busy moment must not make the case
    look closer to the hardware than it was); probes more than ``UNSTABLE_PEAK_PERCENT`` apart
    mark the case unstable. Without probes (an old or fake child), ``fallback`` is used and said.
    A peak typed in rather than measured (``$MNIST_MLP_BENCH_PEAK_GFLOPS``, or the run-level
    fallback) is recorded as given (``given``: where it came from), so report and compare mark it.
    """
    probes = ((raw or {}).get("machine_info") or {}).get("peak") or {}
    values = {
        when: float(probe["gflops"]) for when, probe in probes.items()
        if isinstance(probe, dict) and isinstance(probe.get("gflops"), (int, float)) and probe["gflops"] > 0
    }
    errors = [f"{when}: {probe['error']}" for when, probe in probes.items() if isinstance(probe, dict) and probe.get("error")]
    if not values:
        if fallback is None:
            return {"gflops": None, "errors": errors} if errors else None
        return {"gflops": float(fallback), "before_gflops": None, "after_gflops": None, "change_percent": None,
                "unstable": False, "probe": "run-level peak (the case measured none)", "errors": errors,
                "given": "run-level peak: given, the case measured none"}
    before, after = values.get("before"), values.get("after")
    high = max(values.values())
    change = probe_change_percent(before, after)
    probe = next((p.get("probe") for p in probes.values() if isinstance(p, dict) and p.get("probe")), None)
    given = next((str(p["given"]) for p in probes.values() if isinstance(p, dict) and p.get("given")), None)
    return {
        "gflops": high, "before_gflops": before, "after_gflops": after,
        "change_percent": change, "unstable": probes_unstable(before, after),
        "probe": probe, "errors": errors, "given": given,
    }


def case_latency_probe(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The latency a case is read against where its figures are bound by latency, not by the matmul
    peak (a batch-32 step, a batch-1 prediction): its framework's tiny-op round trip and a fixed
    Python loop, before and after the case; the lower of the two of each (a probe slowed by a busy
    moment must not excuse a slow case), and how far the two framework probes are apart."""
    probes = ((raw or {}).get("machine_info") or {}).get("latency_probe") or {}
    found: dict[str, dict[str, float]] = {"framework_us": {}, "python_us": {}}
    for when, probe in probes.items():
        if not isinstance(probe, dict):
            continue
        for key in found:
            value = probe.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                found[key][when] = float(value)
    if not found["framework_us"]:
        return None
    framework = found["framework_us"]
    change = probe_change_percent(*(1.0 / framework[w] if w in framework else None for w in ("before", "after")))
    probe = next((p.get("probe") for p in probes.values() if isinstance(p, dict) and p.get("probe")), None)
    return {"framework_us": min(framework.values()), "before_us": framework.get("before"), "after_us": framework.get("after"),
            "python_us": min(found["python_us"].values()) if found["python_us"] else None,
            "change_percent": change, "probe": probe}


def case_memory(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The child's peak memory per phase (``bench.memory.PhaseMemory.record``), each byte count an
    int or None, with the floor beside it; None when the child recorded none (an older child, or
    one that ended before pytest-benchmark wrote its JSON)."""
    memory = ((raw or {}).get("machine_info") or {}).get("memory")
    if not isinstance(memory, dict):
        return None
    out = {key: memory.get(key) for key in ("method", "per_phase", "how", "device_counter", "device_scope")}
    for phase in PHASES:
        entry = memory.get(phase)
        out[phase] = None if not isinstance(entry, dict) else {
            key: int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            for key, value in ((k, entry.get(k)) for k in ("peak_rss_bytes", "baseline_rss_bytes", "device_peak_bytes"))}
    out.update(floor_bytes=FLOOR_BYTES, floor=FLOOR_TEXT)
    return out


def case_energy(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The child's energy per phase (``bench.energy.EnergyMeter.record``) as it wrote it: the joules
    of each counter, or ``{"measured": false, "why"}``; None when the child recorded nothing."""
    energy = ((raw or {}).get("machine_info") or {}).get("energy")
    return dict(energy) if isinstance(energy, dict) and isinstance(energy.get("measured"), bool) else None


def flop_model(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The FLOP counts the child derived from its model's layers, else the seed model's (said so)."""
    from mnist_mlp.flops import seed_model

    for bench in (raw or {}).get("benchmarks") or []:
        flops = ((bench or {}).get("extra_info") or {}).get("flops")
        if isinstance(flops, dict) and flops.get("train_per_sample"):
            return flops
    flops = ((raw or {}).get("machine_info") or {}).get("flops")
    if isinstance(flops, dict) and flops.get("forward_per_sample"):
        return flops
    derived = seed_model().to_dict()
    derived["source"] = "the seed model's layer shapes (the child reported no FLOP model)"
    return derived


def measurements(raw: dict[str, Any] | None, fallback_peak: float | None = None) -> dict[str, Any]:
    """training, inference, latency_ms, agreement, training_agreement, confusion_matrix, device_name, note,
    flops, peak, precision, race, serving (the artifact's check), cold_start, and ``phase_seconds``: where the child's time went (imports, peak probe,
    data, training, agreement, inference sweep, latency, finish; interpreter and pytest start-up and
    exit are the rest of ``duration_s``); ``memory`` and ``energy`` per phase."""
    out: dict[str, Any] = {
        "training": None, "inference": [], "latency_ms": {}, "agreement": None, "training_agreement": None,
        "confusion_matrix": None, "device_name": None, "note": None, "flops": None, "peak": None, "precision": None,
        "phase_seconds": None, "latency_probe": None, "race": None, "serving": None, "cold_start": None,
        "memory": None, "energy": None,
    }
    if not raw:
        return out
    out["memory"], out["energy"] = case_memory(raw), case_energy(raw)
    out["latency_probe"] = case_latency_probe(raw)
    info = raw.get("machine_info") or {}
    out["device_name"] = info.get("device_name")
    out["precision"] = info.get("precision")
    out["flops"] = flops = flop_model(raw)
    out["peak"] = peak_record = case_peak(raw, fallback_peak)
    peak = (peak_record or {}).get("gflops")
    phases = info.get("phase_seconds")
    if isinstance(phases, dict):
        out["phase_seconds"] = {str(k): v for k, v in phases.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    # a figure measured in passes (``Profile.passes``) has one benchmark per pass: gathered here, merged below
    inference_passes: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    latency_passes: dict[str, list[dict[str, Any]]] = {}
    for bench in raw.get("benchmarks") or []:
        extra = bench.get("extra_info") or {}
        kind = extra.get("kind")
        if kind == "training":
            out["training"] = _training(extra, peak, flops)
            out["agreement"] = extra.get("agreement")
            out["training_agreement"] = extra.get("training_agreement")
            out["confusion_matrix"] = extra.get("confusion_matrix")
        elif kind == "race":
            out["race"] = race_record(extra, peak)
            out["flops"] = out["flops"] or extra.get("flops")
        elif kind == "inference":
            inference_passes.setdefault((extra.get("path"), extra.get("batch_size")), []).append(bench)
            out["note"] = out["note"] or extra.get("note")
        elif kind == "serving":  # a serving case's artifact, checked against NumPy (``serving.check``)
            out["serving"] = {k: v for k, v in extra.items() if k != "kind"}
        elif kind == "cold_start":  # a fresh process to the first correct prediction (``serving.cold``)
            out["cold_start"] = {k: v for k, v in extra.items() if k != "kind"}
        elif kind == "latency":
            latency_passes.setdefault(extra["path"], []).append(bench)
    for passes in inference_passes.values():
        out["inference"].append(_inference(passes, peak, flops))
    for path, passes in latency_passes.items():
        out["latency_ms"][path] = _latency(passes)
    out["inference"].sort(key=lambda row: (row["path"], row["batch_size"]))
    return sanitize(out)  # NaN/inf as null here already, so the run in memory is the one saved


#: per-seed figures split by whether the seed ran first in its process (cold) or after another (warm)
COLD_WARM_KEYS = ("wall_seconds", "first_epoch_seconds", "steady_epoch_seconds", "steady_ms_per_step", "time_to_target_seconds")


def cold_and_warm(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """The cold run (the first seed of the process: tracing, compilation, caches all cold, what a
    user's own script pays) and the warm runs (every later seed in the same process), each with the
    statistics over the seeds that share its condition."""
    cold = per_seed[:1]
    warm = per_seed[1:]
    return {
        "cold": {"seeds": [s.get("seed") for s in cold], **{k: stats(s[k] for s in cold if s.get(k) is not None) for k in COLD_WARM_KEYS}},
        "warm": {"seeds": [s.get("seed") for s in warm], **{k: stats(s[k] for s in warm if s.get(k) is not None) for k in COLD_WARM_KEYS}},
    }


def _training(extra: dict[str, Any], peak: float | None, flops: dict[str, Any]) -> dict[str, Any]:
    per_seed = [_mark_non_finite(dict(seed)) for seed in extra.get("per_seed") or [] if isinstance(seed, dict)]
    for index, seed in enumerate(per_seed):
        seed["condition"] = "cold" if index == 0 else "warm"
    training: dict[str, Any] = {
        "steps_per_epoch": extra.get("steps_per_epoch"),
        "train_samples": extra.get("train_samples"),
        "target_accuracy": extra.get("target_accuracy"),
        "per_seed": per_seed,
    }
    for key in TRAINING_STATS:
        training[key] = stats(seed[key] for seed in per_seed if seed.get(key) is not None)
    training.update(cold_and_warm(per_seed))
    training["data_parallel"] = extra.get("data_parallel")  # N, batches, engine clocks, equivalence
    steady = training["steady_train_epoch_seconds"]["mean"]  # training steps only, no validation
    gflops = metrics.train_gflops(extra.get("train_samples") or 0, steady, flops["train_per_sample"])
    training["gflops"] = gflops
    training["percent_of_peak"] = metrics.percent_of_peak(gflops, peak)
    return training


def race_record(extra: dict[str, Any], peak: float | None) -> dict[str, Any]:
    """An open-division case: its seeds, its score (``race.rules.olympic_score``, recomputed here
    from the seeds, not taken from the child), and the FLOP floor of the epochs it needed at the
    case's own peak: training (60,000 samples an epoch) and evaluation (the test set an epoch)."""
    from mnist_mlp.race.rules import olympic_score

    per_seed = [dict(seed) for seed in extra.get("per_seed") or [] if isinstance(seed, dict)]
    score = olympic_score([seed.get("seconds") if seed.get("reached") else None for seed in per_seed]).to_dict()
    flops = extra.get("flops") or {}
    reached = [seed for seed in per_seed if seed.get("reached")]
    epochs = statistics.fmean(seed["epochs"] for seed in reached) if reached else None
    floor = None
    if epochs and peak and flops.get("train_per_sample") and flops.get("forward_per_sample"):
        work = epochs * (float(extra.get("train_samples") or 0) * flops["train_per_sample"]
                         + float(extra.get("test_samples") or 0) * flops["forward_per_sample"])
        floor = work / (peak * 1e9)
    seed_recipe = extra.get("seed_recipe") or {}
    return {
        "recipe": extra.get("recipe"), "recipe_line": extra.get("recipe_line"), "recipe_source": extra.get("recipe_source"),
        "chosen_by": extra.get("chosen_by"), "rules": extra.get("rules"), "target_accuracy": extra.get("target_accuracy"),
        "per_seed": per_seed, "score": score, "epochs_mean": epochs,
        "flop_floor_seconds": floor, "score_over_floor": (score["seconds"] / floor) if floor and score["seconds"] else None,
        "seed_recipe": {"recipe": seed_recipe.get("recipe"), "per_seed": list(seed_recipe.get("per_seed") or [])},
        "recipe_check": extra.get("recipe_check"),
    }


def _mark_non_finite(seed: dict[str, Any]) -> dict[str, Any]:
    """List in ``non_finite`` what of the seed is NaN, infinite or missing (``stats.non_finite_keys``)."""
    found = non_finite_keys(seed)
    if found:
        seed["non_finite"] = found
    return seed


def _in_pass_order(passes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(passes, key=lambda bench: int((bench.get("extra_info") or {}).get("pass_index") or 0))


def _rounds(bench: dict[str, Any]) -> list[float]:
    return [float(v) for v in (bench.get("stats") or {}).get("data") or []]


def _inference(passes: list[dict[str, Any]], peak: float | None, flops: dict[str, Any]) -> dict[str, Any]:
    """One path and batch size: the rounds of all its passes pooled (the figure: the batch over
    their median), and, measured in more than one pass, each pass's samples/s and the best."""
    passes = _in_pass_order(passes)
    extra = passes[0].get("extra_info") or {}
    seconds = stats([value for bench in passes for value in _rounds(bench)])
    batch = int(extra["batch_size"])
    median = seconds["median"]
    per_second = batch / median if median else 0.0
    gflops = metrics.inference_gflops(per_second, flops["forward_per_sample"])
    row = {
        "path": extra["path"],
        "batch_size": batch,
        "seconds_per_batch": seconds,
        "samples_per_second": per_second,
        "gflops": gflops,
        "percent_of_peak": metrics.percent_of_peak(gflops, peak),
    }
    if len(passes) > 1:  # one value per pass, in pass order (None: a pass without a usable round)
        rates = [_per_second(batch, _rounds(bench)) for bench in passes]
        found = [rate for rate in rates if rate is not None]
        row["passes"] = {"samples_per_second": rates, "best": max(found) if found else None}
    return row


def _per_second(batch: int, rounds: list[float]) -> float | None:
    median = statistics.median(rounds) if rounds else 0.0
    return batch / median if median > 0 else None


def _latency(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """One path's batch-1 latency: percentiles over the calls of all its passes, the calls' own
    times (``samples_ms``, so latency noise is judged from this measurement itself), and, measured
    in more than one pass, each pass's p50 and the lowest."""
    passes = _in_pass_order(passes)
    calls = [value for bench in passes for value in _rounds(bench)]
    latency = metrics.percentiles_ms(calls) if len(passes) > 1 else dict((passes[0].get("extra_info") or {}).get("latency_ms") or {})
    latency["samples_ms"] = [value * 1000.0 for value in calls]
    if len(passes) > 1:
        p50s = [statistics.median(_rounds(bench)) * 1000.0 if _rounds(bench) else None for bench in passes]
        found = [p50 for p50 in p50s if p50 is not None]
        latency["passes"] = {"p50": p50s, "best": min(found) if found else None}
    return latency
