"""benchmarks/numpy_reference_peak.py: FLOPs from the shapes, alternating rounds, the printed verdicts.

The peak probe is replaced by fixed numbers (it is seconds of full-CPU matmuls); the forward
passes run for real on tiny batches for a few milliseconds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "numpy_reference_peak.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("numpy_reference_peak", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flops_follow_the_layer_shapes(script):
    from mnist_mlp.bench.suite import untrained_weights

    assert script.forward_flops(untrained_weights()) == 209_536
    wider = [np.zeros(s) for s in [(784, 256), (256,), (256, 32), (32,), (32, 10), (10,)]]
    assert script.forward_flops(wider) == 2 * (784 * 256 + 256 * 32 + 32 * 10)


def test_paths_alternate_and_each_gets_its_rounds(script):
    calls: list[str] = []
    samples = script.time_alternating(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, max_time=0.0, min_time=1e-6, min_rounds=4,
    )
    assert len(samples["a"]) == len(samples["b"]) >= 4
    assert all(t > 0 for t in samples["a"] + samples["b"])
    assert set(calls) == {"a", "b"}  # iterations per round are calibrated per path, so counts differ


def _probes(monkeypatch, script, *values):
    peaks = iter(values)
    monkeypatch.setattr(script, "numpy_peak_gflops", lambda: next(peaks))


def test_a_run_prints_percent_of_the_larger_probe(script, monkeypatch, capsys):
    _probes(monkeypatch, script, 100.0, 95.0)
    argv = ["--batch-sizes", "8", "16", "--max-time", "0.01", "--min-time", "0.0001", "--profile"]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "max |p - p_float64|" in out
    assert "peak probe before 100.0, after 95.0 GFLOP/s: spread 5.0%, stable; judged against the larger, 100.0" in out
    rows = [line for line in out.splitlines() if line.strip().startswith(("8 ", "16 "))]
    assert len(rows) == 4  # reference and plain, per batch size
    assert "layer 1 matmul" in out and "softmax" in out  # the profile of the plan's steps


def test_probes_far_apart_mark_the_run_unstable(script, monkeypatch, capsys):
    _probes(monkeypatch, script, 100.0, 80.0)
    assert script.main(["--batch-sizes", "4", "--max-time", "0.01", "--min-time", "0.0001", "--chunks", "2", "4"]) == 0
    out = capsys.readouterr().out
    assert "UNSTABLE" in out
    assert "reference chunk 2" in out and "reference chunk 4" in out


@pytest.mark.parametrize("argv, message", [
    (["--batch-sizes", "0"], "argument --batch-sizes: must be at least 1, got 0"),
    (["--max-time", "-1"], "argument --max-time"),
    (["--chunks"], "argument --chunks: expected at least one argument"),
])
def test_bad_arguments_are_one_line_exit_2(script, argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        script.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
