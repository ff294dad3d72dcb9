"""% of peak recomputed by hand from the raw samples and the probes, not read back from a fixture.

The child's raw JSON holds per-round seconds and the two peak probes; collect turns them into
samples/s, GFLOP/s and % of peak. Here the same figures are worked out with the seed model's
hand-counted FLOPs (209,536 forward, 427,904 per training sample), so a wrong median, a wrong
FLOP count, the lower probe or the mean taken for the median would each fail the test.
"""

from __future__ import annotations

import pytest

from mnist_mlp.bench import collect

FORWARD, TRAIN = 209_536, 427_904


def _raw(seconds: list[float], before: float, after: float) -> dict:
    return {
        "machine_info": {"peak": {"before": {"gflops": before, "probe": "fake"}, "after": {"gflops": after, "probe": "fake"}}},
        "benchmarks": [
            {"extra_info": {"kind": "inference", "path": "direct", "batch_size": 1000}, "stats": {"data": seconds}},
            {"extra_info": {"kind": "training", "train_samples": 48_000, "steps_per_epoch": 1500, "per_seed": [
                {"seed": 0, "wall_seconds": 30.0, "steady_epoch_seconds": 1.2, "steady_train_epoch_seconds": 1.0,
                 "test_accuracy": 0.97}]},
             "stats": {"data": [30.0]}},
        ],
    }


def test_inference_percent_of_peak_from_the_rounds_and_the_higher_probe():
    rounds = [0.010, 0.002, 0.004, 0.005, 0.030]  # median 0.005 s; mean 0.0102 s
    out = collect.measurements(_raw(rounds, before=80.0, after=100.0))
    row = out["inference"][0]
    per_second = 1000 / 0.005  # batch over the median round
    gflops = per_second * FORWARD / 1e9  # 41.9072
    assert row["samples_per_second"] == pytest.approx(per_second)
    assert row["gflops"] == pytest.approx(gflops)
    assert row["percent_of_peak"] == pytest.approx(100.0 * gflops / 100.0)  # the higher probe, 100
    assert out["peak"]["gflops"] == 100.0 and out["peak"]["change_percent"] == pytest.approx(20.0)


def test_training_percent_of_peak_from_the_steady_training_span():
    out = collect.measurements(_raw([0.005], before=50.0, after=40.0))
    training = out["training"]
    gflops = TRAIN * 48_000 / 1.0 / 1e9  # training steps only (1.0 s), not the epoch with validation (1.2 s)
    assert training["gflops"] == pytest.approx(gflops)
    assert training["percent_of_peak"] == pytest.approx(100.0 * gflops / 50.0)


def test_a_figure_measured_in_passes_pools_its_rounds_and_keeps_each_pass():
    """Five passes of one benchmark (``Profile.passes``): the figure is the batch over the median of
    all their rounds, each pass's own samples/s and the best stand beside it; the latency's
    percentiles run over the calls of every pass, each pass's p50 and the lowest beside them."""
    passes = [[0.004, 0.005, 0.006], [0.010, 0.011, 0.012], [0.002, 0.003, 0.0025], [0.005], [0.020, 0.030]]
    raw = _raw([], before=100.0, after=100.0)
    raw["benchmarks"] = [  # in a shuffled order: the pass index, not the order in the file, decides
        {"extra_info": {"kind": "inference", "path": "direct", "batch_size": 1000, "pass_index": i + 1}, "stats": {"data": rounds}}
        for i, rounds in reversed(list(enumerate(passes)))
    ] + [{"extra_info": {"kind": "latency", "path": "direct", "batch_size": 1, "pass_index": i + 1}, "stats": {"data": rounds}}
         for i, rounds in enumerate(passes)]
    out = collect.measurements(raw)
    (row,) = out["inference"]
    pooled = sorted(value for rounds in passes for value in rounds)  # 12 rounds: median (0.005 + 0.006) / 2
    assert row["seconds_per_batch"]["n"] == 12
    assert row["samples_per_second"] == pytest.approx(1000 / ((pooled[5] + pooled[6]) / 2))
    assert row["passes"]["samples_per_second"] == pytest.approx([1000 / 0.005, 1000 / 0.011, 1000 / 0.0025, 1000 / 0.005, 1000 / 0.025])
    assert row["passes"]["best"] == pytest.approx(1000 / 0.0025)
    latency = out["latency_ms"]["direct"]
    assert latency["rounds"] == 12 and latency["p50"] == pytest.approx(1000 * (pooled[5] + pooled[6]) / 2)
    assert latency["passes"]["p50"] == pytest.approx([5.0, 11.0, 2.5, 5.0, 25.0]) and latency["passes"]["best"] == pytest.approx(2.5)
    assert len(latency["samples_ms"]) == 12


def test_a_figure_measured_once_has_no_passes():
    out = collect.measurements(_raw([0.004, 0.005, 0.006], before=100.0, after=100.0))
    assert "passes" not in out["inference"][0]


def test_a_pass_without_rounds_keeps_its_place_and_the_best_comes_from_the_others():
    raw = _raw([], before=100.0, after=100.0)
    raw["benchmarks"] = [{"extra_info": {"kind": kind, "path": "direct", "batch_size": 1000 if kind == "inference" else 1,
                                         "pass_index": i + 1}, "stats": {"data": rounds}}
                         for kind in ("inference", "latency") for i, rounds in enumerate([[0.004], [], [0.002], [0.0]])]
    out = collect.measurements(raw)
    assert out["inference"][0]["passes"] == {"samples_per_second": [250_000.0, None, 500_000.0, None], "best": 500_000.0}
    assert out["latency_ms"]["direct"]["passes"] == {"p50": [4.0, None, 2.0, 0.0], "best": 0.0}
