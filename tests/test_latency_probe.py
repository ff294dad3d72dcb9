"""The latency probe: each figure read against the probe that bounds it, the peak or the latency.

A batch-32 step on a CPU is bound by the round trip of each call, not by matmul throughput: a
machine whose tiny-op round trip doubled takes twice as long per step while its matmul peak holds.
compare must then say the machine explains the slower steps (the latency probe moved as much), and
say nothing explains them when no probe moved.
"""

from __future__ import annotations

import math
import random

import pytest

from fixtures.compare.runfactory import case, make_run, write_run
from mnist_mlp import compare, results
from mnist_mlp.backends import get as get_backend
from mnist_mlp.bench import collect
from mnist_mlp.compare.measures import bound_of
from mnist_mlp.errors import ResultFileError


def _probe(us: float) -> dict:
    return {"framework_us": us, "before_us": us, "after_us": us * 1.01, "python_us": 50.0, "change_percent": 1.0,
            "probe": "fixture"}


def _case(backend: str, slower: float, latency_us: float, rng: random.Random, repeats: int = 5) -> dict:
    """A case run as ``repeats`` processes: every time ``slower`` times the base (a few % wander),
    its latency probe at ``latency_us``, its matmul peak unchanged."""
    entries = []
    for index in range(repeats):
        factor = slower * math.exp(rng.gauss(0.0, 0.03))
        one = case(backend, walls=(60.0 * factor, 59.0 * factor, 59.5 * factor), seconds_per_batch=0.001 * factor,
                   seed=rng.randrange(10_000))
        for seed in one["training"]["per_seed"]:
            seed["steady_ms_per_step"] = 1.2 * factor
        entries.append({"repeat": index + 1, "latency_probe": _probe(latency_us * math.exp(rng.gauss(0.0, 0.02))),
                        **{key: one[key] for key in ("status", "reason", "training", "inference", "latency_ms", "peak")}})
    first = dict(case(backend, seed=1))
    first.update({key: entries[0][key] for key in ("training", "inference", "latency_ms", "peak", "latency_probe")})
    first["repeats"] = entries
    return first


def _compare(tmp_path, slower: float, latency_b: float):
    rng = random.Random(4)
    a = make_run([_case("torch", 1.0, 10.0, rng)], host="vm", cpu="AMD EPYC")
    b = make_run([_case("torch", slower, latency_b, rng)], run_id="b", host="vm", cpu="Intel Xeon")
    return compare.compare(compare.load_runs([write_run(tmp_path, a), write_run(tmp_path, b)]),
                           band=compare.NoiseBand({"profiles": {}}))


def _rows(result) -> dict:
    return {row.metric.key: row.verdicts[1] for row in result.rows}


def test_each_figure_has_the_probe_that_bounds_it():
    keys = {m.key: bound_of(m) for m in compare.case_metrics(case("jax", sizes=(1, 256, 1024, 10000)))}
    assert keys["inference.direct.1024"] == keys["inference.direct.10000"] == "peak"
    assert keys["inference.direct.1"] == keys["inference.direct.256"] == "latency"
    assert keys["training.steady_ms_per_step"] == keys["latency.direct.p50"] == "latency"
    assert keys["training.test_accuracy"] == ""


def test_slower_steps_that_the_latency_probe_explains_are_the_machine(tmp_path):
    """Issue 23: the same host name, another CPU, every step 2.3x slower and the matmul peak
    unchanged: the latency probe moved 2.3x too, so the machine explains it."""
    result = _compare(tmp_path, 2.3, 23.0)
    step = _rows(result)["training.steady_ms_per_step"]
    assert step.label == "slower" and step.ratio == pytest.approx(2.3, rel=0.1)
    assert step.bound == "latency" and step.machine_ratio == pytest.approx(10.0 / 23.0, rel=0.05)
    assert step.per_peak.label == "within noise"
    assert result.movements["B"].moved == "machine"
    latency_row = next(row for row in result.rows if row.metric == compare.family.LATENCY_METRIC)
    assert latency_row.verdicts[1].effect["changed"] == 1.0


def test_slower_steps_that_no_probe_explains_are_said_to_be_so(tmp_path):
    from mnist_mlp.report.compare_text import comparison_markdown

    result = _compare(tmp_path, 2.3, 10.0)  # the latency probe held: something else is slower
    step = _rows(result)["training.steady_ms_per_step"]
    assert step.label == "slower" and step.per_peak.label == "slower"
    assert result.movements["B"].moved == "framework"
    assert "(latency probe); per unit of latency probe x0.4" in comparison_markdown(result)


def test_the_latency_probe_keeps_the_faster_of_its_two_readings():
    raw = {"machine_info": {"latency_probe": {"before": {"framework_us": 12.0, "python_us": 40.0, "probe": "p"},
                                              "after": {"framework_us": 10.0, "python_us": 45.0}}}}
    found = collect.case_latency_probe(raw)
    assert found["framework_us"] == 10.0 and found["python_us"] == 40.0
    assert found["before_us"] == 12.0 and found["change_percent"] == pytest.approx(100 * (1 / 10 - 1 / 12) / (1 / 10))
    assert collect.case_latency_probe({"machine_info": {}}) is None


def test_numpy_latency_probe_measures_something():
    probe = get_backend("numpy").probe_latency("cpu")
    assert probe["framework_us"] > 0 and probe["python_us"] > 0 and "tiny op" in probe["probe"]


def test_a_results_file_with_a_negative_probe_or_a_lying_repeat_is_refused():
    run = make_run([case()])
    run["cases"][0]["latency_probe"] = _probe(-1.0)
    with pytest.raises(ResultFileError, match=r"latency_probe.framework_us"):
        results.validate(run, "r.json")
    run = make_run([case()])
    run["cases"][0]["repeats"] = [{"repeat": 1, "status": "ok", "duration_s": -3.0}]
    with pytest.raises(ResultFileError, match=r"repeats\[0\].duration_s"):
        results.validate(run, "r.json")


def test_a_difference_without_its_probe_on_both_sides_is_not_said_to_be_the_machine(tmp_path):
    """Run B measured no latency probe (an older run): its slower steps cannot be put on the machine."""
    from mnist_mlp.report.compare_text import comparison_markdown

    rng = random.Random(5)
    a = make_run([_case("torch", 1.0, 10.0, rng)], host="vm")
    slowed = _case("torch", 2.3, 10.0, rng)
    for entry in [slowed, *slowed["repeats"]]:
        entry.pop("latency_probe", None)
        entry["peak"] = {**entry["peak"], "gflops": 50.0}  # the peak moved: the machine changed
    b = make_run([slowed], run_id="b", host="vm")
    result = compare.compare(compare.load_runs([write_run(tmp_path, a), write_run(tmp_path, b)]),
                             band=compare.NoiseBand({"profiles": {}}))
    move = result.movements["B"]
    assert move.moved == "machine" and move.unexplained >= 2
    text = comparison_markdown(result)
    assert "nothing says whether the machine explains those" in text and "the probes explain them" not in text
