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
