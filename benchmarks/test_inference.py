"""Inference on the trained model: throughput per batch size and path, and batch-1 latency.

Paths (``mnist_mlp.bench.direct``): Keras ``predict``, the backend's direct compiled call, (in
the NumPy case) the framework-free reference, and (in a serving case) the exported artifact on its
runtime, checked against NumPy before it is timed (``test_serving_check``). Each callable is called once before timing,
so tracing and compiling for the batch shape stay out of the numbers. Throughput uses
pytest-benchmark's calibrated rounds (bounded by ``--benchmark-max-time``); latency uses pedantic
rounds of one call each, whose per-round times give p50/p90/p99. Where the profile asks for passes
(``Profile.passes``), every throughput and latency benchmark runs once per pass, pass after pass
(``conftest.pytest_collection_modifyitems``), each with its share of the budget; ``collect`` pools
the passes into the figure and keeps each pass's value beside it. ``test_cold_start`` (where the
profile asks) times a fresh process to the first correct prediction of what the case serves.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnist_mlp.bench import metrics, suite
from mnist_mlp.bench.direct import make_callable


@pytest.fixture(scope="session")
def served(case, state, mnist, device_facts, progress) -> dict[str, Any]:
    """The model to serve and the test images, once per session; its FLOPs from its layer shapes."""
    from mnist_mlp.data import scale
    from mnist_mlp.flops import FlopModel

    if case.implementation != "keras":
        pytest.skip("a native case times training; inference is measured on the Keras cases and numpy-cpu")
    x_test = scale(mnist.x_test)
    if not case.trains:
        from mnist_mlp.reference.forward import NumpyMLP

        if case.weights_in and Path(case.weights_in).is_file():
            weights, note = suite.load_weights(case.weights_in), f"weights trained by {case.weights_from}"
        elif case.weights_in:  # the earlier case of this shared process that was to train them wrote none
            weights = suite.untrained_weights()
            note = f"untrained weights ({case.weights_from}, whose trained weights this case was to serve, wrote none)"
        else:
            weights, note = suite.untrained_weights(), "untrained weights (no case trained a model; throughput does not depend on values)"
        device_facts["flops"] = device_facts["flops"] or FlopModel.from_weights(weights).to_dict()
        if "runtime" in case.inference_paths:
            return _serve_runtime(case, weights, note, x_test, mnist.y_test, progress)
        return {"model": NumpyMLP(weights), "x": x_test, "note": note}
    model = state.get("model")
    note = None
    if model is None:  # training did not run in this session (e.g. -k inference)
        from mnist_mlp.model import build_model

        model, note = build_model(case.train_config()), "untrained model (training did not run in this session)"
    device_facts["flops"] = device_facts["flops"] or FlopModel.from_model(model).to_dict()
    return {"model": model, "x": x_test, "note": note}


def _serve_runtime(case, weights, note, x_test, y_test, progress) -> dict[str, Any]:
    """Export the weights, load the artifact on the case's runtime and check it (``bench.serving_case``)."""
    from mnist_mlp.bench import serving_case

    progress.phase("export", detail=f"{case.backend}: export, load, check against NumPy")
    prepared = serving_case.prepare(case, weights, x_test, y_test)
    if prepared["skip"]:
        suite.write_outcome(case, "skipped", prepared["skip"])
        pytest.skip(prepared["skip"])
    return {"model": prepared["session"], "x": x_test, "note": note, "artifact": prepared["artifact"],
            "check": prepared["check"]}


def test_serving_check(benchmark, case, served):
    """The artifact against the NumPy forward pass (recorded; a float32 artifact out of tolerance fails the case)."""
    if "check" not in served:
        pytest.skip("not a serving case")
    from mnist_mlp.serving.check import failure_line

    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    benchmark.extra_info.update(kind="serving", **served["check"])
    problem = failure_line(served["check"], case.case_id)
    assert problem is None, problem


def _prepare(case, served, path, batch_size):
    """The callable of ``path`` at ``batch_size``, called once before it is timed in its first pass
    (trace/compile for this batch shape, outside the timing). Each pass makes its own: a callable
    holds the model's variables as they were, and Keras' JAX ``predict`` donates them; the traced
    or compiled function behind it is the backend's, kept per model, so it is not traced again."""
    fn = make_callable(path, case.backend, served["model"], served["x"][:batch_size])
    warmed = served.setdefault("warmed", set())
    if (path, batch_size) not in warmed:
        out = fn()
        assert np.asarray(out).shape == (batch_size, 10)
        warmed.add((path, batch_size))
    return fn


def _paths(case) -> tuple[str, ...]:
    return case.inference_paths


#: the order the inference benchmarks ran in, within the process (``extra_info["order"]``)
_ORDER = itertools.count(1)


def _passes(case) -> int:
    return max(1, case.passes)


def test_throughput(benchmark, case, served, progress, path, batch_size, pass_index, pytestconfig):
    paths, sizes = _paths(case), case.batch_sizes
    per_pass = len(paths) * len(sizes)
    step = (pass_index - 1) * per_pass + paths.index(path) * len(sizes) + sizes.index(batch_size) + 1
    progress.phase("inference sweep", detail=f"{path}, batch {batch_size}" + _pass_text(case, pass_index),
                   step=step, steps=per_pass * _passes(case))
    fn = _prepare(case, served, path, batch_size)
    benchmark.extra_info.update(kind="inference", path=path, batch_size=batch_size, note=served["note"],
                                pass_index=pass_index, order=next(_ORDER))
    sized = served.setdefault("rounds", {})
    if (path, batch_size) not in sized:  # the first pass: pytest-benchmark calibrates the rounds
        benchmark(fn)
        sized[(path, batch_size)] = (benchmark.stats.stats.median, benchmark.stats.stats.rounds)
        return
    # the later passes: rounds of the first pass's size, without calibrating again (a call of
    # 40 ms, TensorFlow's Keras predict, would spend half its pass calibrating)
    call_s, rounds = sized[(path, batch_size)]
    min_time = float(pytestconfig.getoption("benchmark_min_time"))  # what a calibrated round lasts at least
    iterations = max(1, math.ceil(min_time / call_s)) if call_s > 0 else 1
    benchmark.pedantic(fn, rounds=max(1, rounds), iterations=iterations, warmup_rounds=0)


def test_latency(benchmark, case, served, progress, path, pass_index):
    paths, passes = _paths(case), _passes(case)
    progress.phase("latency", detail=f"{path}, batch 1" + _pass_text(case, pass_index),
                   step=(pass_index - 1) * len(paths) + paths.index(path) + 1, steps=len(paths) * passes)
    fn = _prepare(case, served, path, 1)
    sized = served.setdefault("latency_call_s", {})
    if path not in sized:  # the warm-ups, timed to size the rounds (in the first pass)
        warm = []
        for _ in range(min(5, case.latency_rounds)):
            started = time.perf_counter()
            fn()
            warm.append(time.perf_counter() - started)
        sized[path] = statistics.median(warm)
    # each pass takes its share of the rounds and of the budget (``Profile.passes``)
    rounds = metrics.latency_round_count(sized[path], -(-case.latency_rounds // passes),
                                         -(-case.latency_max_rounds // passes) if case.latency_max_rounds else None,
                                         case.latency_budget_s / passes)
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(
        kind="latency", path=path, batch_size=1, pass_index=pass_index, order=next(_ORDER),
        latency_ms=metrics.percentiles_ms(benchmark.stats.stats.data),
    )


def _pass_text(case, pass_index: int) -> str:
    return f", pass {pass_index}/{_passes(case)}" if _passes(case) > 1 else ""


def test_cold_start(benchmark, case, served, progress):
    """A fresh process to the first correct prediction of what this case serves (``serving.cold``)."""
    if not case.cold_start:
        pytest.skip("this profile measures no cold start")
    from mnist_mlp.bench import serving_case
    from mnist_mlp.serving import cold

    progress.phase("cold start", detail="a fresh process to its first prediction")
    kind, artifact, size = serving_case.cold_artifact(case, served)
    image = served["x"][:1]
    expected = np.asarray(make_callable(case.inference_paths[0], case.backend, served["model"], image)())
    found: dict[str, Any] = {}
    benchmark.pedantic(lambda: found.update(cold.measure(kind, artifact, image, expected, serving_case.tolerance_of(case))),
                       rounds=1, iterations=1)
    benchmark.extra_info.update({**found, "kind": "cold_start", "loads": kind, "artifact_bytes": size})
    assert found.get("ok"), f"{case.case_id}: cold start gave no correct prediction ({found.get('error') or 'a wrong answer'})"
