"""The overhead command's pure parts: the ratio and its spread, the verdict, the round order, errors.

No training here: the processes are fakes; ``benchmarks/overhead.py`` itself is run by hand
(its docstring and the README say how).
"""

from __future__ import annotations

import pytest

from mnist_mlp.bench import overhead
from mnist_mlp.bench.overhead import OverheadRunFailed, Sample


def test_ratio_of_means_and_paired_ratios():
    summary = overhead.summarize([10.0, 12.0, 14.0], [10.5, 12.0, 14.7])
    assert summary.ratio == pytest.approx(37.2 / 36.0)
    assert summary.paired == pytest.approx((1.05, 1.0, 1.05))
    assert summary.plain_mean == pytest.approx(12.0)
    assert summary.harness_mean == pytest.approx(12.4)
    assert summary.low <= summary.ratio <= summary.high
    assert 1.0 <= summary.low and summary.high <= 1.05  # a resample's ratio lies between the paired extremes


def test_a_constant_ratio_has_no_spread():
    low, high = overhead.bootstrap_interval([10.0, 20.0, 40.0], [10.1, 20.2, 40.4])
    assert low == pytest.approx(1.01) and high == pytest.approx(1.01)


def test_bootstrap_is_deterministic_and_resamples_pairs():
    """Against a bootstrap written out here: the same seed gives the same interval, a pair is
    resampled as a pair (resampling the two sides apart gives another interval)."""
    import numpy as np

    plain, harness = [10.0, 11.0, 9.5, 10.2], [10.4, 10.9, 10.1, 10.3]
    p, h = np.array(plain), np.array(harness)
    picks = np.random.default_rng(0).integers(0, 4, size=(10_000, 4))
    expected = np.quantile(h[picks].mean(axis=1) / p[picks].mean(axis=1), [0.025, 0.975])
    assert overhead.bootstrap_interval(plain, harness) == pytest.approx(tuple(expected))
    unpaired = np.random.default_rng(0).integers(0, 4, size=(10_000, 4))
    shuffled = h[np.random.default_rng(1).integers(0, 4, size=(10_000, 4))].mean(axis=1) / p[unpaired].mean(axis=1)
    assert overhead.bootstrap_interval(plain, harness) != pytest.approx(tuple(np.quantile(shuffled, [0.025, 0.975])))



@pytest.mark.parametrize(
    "ratio, low, high, expected",
    [
        (1.01, 1.00, 1.02, "within the 3% goal"),
        (0.97, 0.90, 1.03, "within the 3% goal"),
        (1.06, 1.04, 1.08, "over the 3% goal"),
        (1.01, 0.98, 1.05, "not settled: the ratio is within"),
        (1.04, 1.02, 1.07, "not settled: the ratio is over"),
    ],
)
def test_verdict_judges_the_whole_interval(ratio, low, high, expected):
    assert overhead.verdict(ratio, low, high).startswith(expected)


@pytest.mark.parametrize("plain, harness", [([], []), ([1.0, 2.0], [1.0]), ([1.0, 0.0], [1.0, 1.0]), ([1.0], [float("nan")])])
def test_impossible_times_are_refused(plain, harness):
    with pytest.raises(ValueError):
        overhead.ratio_of_means(plain, harness)


def test_rounds_alternate_which_side_goes_first():
    calls: list[str] = []
    plain, harness = overhead.interleave(
        4, lambda: calls.append("p") or Sample(1.0, 0.9), lambda: calls.append("h") or Sample(1.1, 0.9),
    )
    assert calls == ["p", "h", "h", "p", "p", "h", "h", "p"]
    assert len(plain) == len(harness) == 4


class FakeProcesses:
    def __init__(self, harness_accuracy: float = 0.97, fail: bool = False) -> None:
        self.harness_accuracy, self.fail, self.n = harness_accuracy, fail, 0

    def plain(self) -> Sample:
        self.n += 1
        return Sample(10.0 + self.n, 0.97)

    def harness(self) -> Sample:
        if self.fail:
            raise OverheadRunFailed("harness: killed by signal SIGKILL: out of memory (log x.log)")
        self.n += 1
        return Sample(10.2 + self.n, self.harness_accuracy)


def test_main_prints_rounds_means_ratio_and_verdict(capsys):
    assert overhead.main(["--backend", "jax", "--rounds", "3", "--epochs", "1"], processes=FakeProcesses()) == 0
    out = capsys.readouterr().out
    assert out.count("round ") == 6
    assert "plain   mean" in out and "harness mean" in out
    assert "overhead ratio harness/plain" in out and "bootstrap 95% interval" in out
    assert "verdict: " in out
    assert "test accuracies: identical in every round" in out


def test_main_says_when_accuracies_differ(capsys):
    overhead.main(["--backend", "jax"], processes=FakeProcesses(harness_accuracy=0.96))
    assert "test accuracies: DIFFER in round(s) 1, 2, 3" in capsys.readouterr().out


def test_a_failed_process_is_one_line_and_exit_3(capsys):
    assert overhead.main(["--backend", "torch"], processes=FakeProcesses(fail=True)) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: harness: killed by signal SIGKILL: out of memory (log x.log)"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backend", "jax", "--rounds", "2"], "argument --rounds: must be at least 3, got 2"),
        (["--backend", "jax", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
        (["--backend", "jax", "--rounds", "three"], "argument --rounds: expected a whole number, got 'three'"),
        (["--backend", "mxnet"], "argument --backend: invalid choice: 'mxnet'"),
        (["--rounds", "3"], "the following arguments are required: --backend"),
        (["--backend", "jax", "--timeout", "0"], "argument --timeout: must be positive, got 0.0"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        overhead.main(argv, processes=FakeProcesses())
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_harness_sample_reads_the_training_round(tmp_path):
    raw = {"benchmarks": [
        {"extra_info": {"kind": "inference"}},
        {"extra_info": {"kind": "training", "per_seed": [{"wall_seconds": 12.5, "test_accuracy": 0.9712}]}},
    ]}
    assert overhead.harness_sample(raw, tmp_path / "raw.json") == Sample(12.5, 0.9712)
    with pytest.raises(OverheadRunFailed, match="holds no training benchmark"):
        overhead.harness_sample({"benchmarks": [{"extra_info": {"kind": "inference"}}]}, tmp_path / "raw.json")
    with pytest.raises(OverheadRunFailed, match="holds no training benchmark"):
        overhead.harness_sample(None, tmp_path / "raw.json")
