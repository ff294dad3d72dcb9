"""The shared argparse converters (``mnist_mlp.cli.argtypes``) and the bench command's argument checks.

Every bad value is one line on stderr, ``mnist-mlp CMD: error: argument --OPT: ...``, and exit 2,
before anything runs. In-process through ``mnist_mlp.cli.main.main``; nothing trains.
"""

from __future__ import annotations

import argparse

import pytest

from mnist_mlp.cli import argtypes
from mnist_mlp.cli.main import main


def _refused(convert, text: str) -> str:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        convert(text)
    return str(info.value)


@pytest.mark.parametrize(
    "convert, text, message",
    [
        (argtypes.positive_int, "0", "must be at least 1, got 0"),
        (argtypes.positive_int, "2.5", "expected a whole number, got '2.5'"),
        (argtypes.positive_float, "0", "must be a positive number, got 0"),
        (argtypes.positive_float, "inf", "must be a positive number, got inf"),
        (argtypes.positive_float, "nan", "must be a positive number, got nan"),
        (argtypes.positive_float, "fast", "expected a number, got 'fast'"),
        (argtypes.fraction, "1.5", "must be in (0, 1], got 1.5"),
        (argtypes.fraction, "0", "must be a positive number, got 0"),
        (argtypes.split, "1", "must be strictly between 0 and 1, got 1"),
        (argtypes.non_negative_float, "-1e-5", "must be a finite number of at least 0, got -1e-5"),
        (argtypes.non_negative_float, "tiny", "expected a number, got 'tiny'"),
        (argtypes.percent, "0", "must be a percentage greater than 0, got 0"),
        (argtypes.percent, "x", "expected a number of percent, got 'x'"),
        (argtypes.points, "100", "must be strictly between 0 and 100 percentage points, got 100"),
        (argtypes.points, "x", "expected a number of percentage points, got 'x'"),
        (argtypes.jit, "maybe", "must be auto, true or false, got 'maybe'"),
        (argtypes.choices(("cpu", "gpu"), "--devices"), "cpu,tpu", "tpu is not one of cpu, gpu (comma-separated)"),
        (argtypes.choices(("cpu", "gpu"), "--devices"), ",", "nothing is not one of cpu, gpu (comma-separated)"),
        (argtypes.int_list(), "1,a", "expected comma-separated whole numbers, got '1,a'"),
        (argtypes.int_list(1, 10, " (why)"), "1,11", "11 is outside 1 to 10 (why)"),
    ],
)
def test_bad_values_are_refused_with_the_reason(convert, text, message):
    assert _refused(convert, text) == message


def test_good_values_are_converted():
    assert argtypes.positive_int("3") == 3
    assert argtypes.positive_float("1e-3") == 0.001
    assert argtypes.fraction("1") == 1.0
    assert argtypes.split("0.2") == 0.2
    assert argtypes.non_negative_float("0") == 0.0
    assert argtypes.percent("150") == 150.0 and argtypes.points("0.5") == 0.5
    assert argtypes.jit("auto") == "auto" and argtypes.jit("false") is False
    assert argtypes.choices(("jax", "torch"), "--backends")("torch, jax,torch") == ("torch", "jax")
    assert argtypes.int_list(1, 10000)("1,256,10000") == (1, 256, 10000)


@pytest.fixture
def nothing_runs(monkeypatch):
    from mnist_mlp.bench import runner

    monkeypatch.setattr(runner, "run_benchmarks", lambda *a, **k: pytest.fail("the benchmark ran despite a bad argument"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "0"], "argument --seeds: must be at least 1, got 0"),
        (["--devices", "tpu"], "argument --devices: tpu is not one of cpu, gpu (comma-separated)"),
        (["--backends", "mxnet"], "argument --backends: mxnet is not one of tensorflow, jax, torch, numpy (comma-separated)"),
        (["--target-accuracy", "1.5"], "argument --target-accuracy: must be in (0, 1], got 1.5"),
        (["--batch-sizes", "0"], "argument --batch-sizes: 0 is outside 1 to 10000 (the test set)"),
        (["--batch-sizes", "20000"], "argument --batch-sizes: 20000 is outside 1 to 10000 (the test set)"),
        (["--timeout", "-1"], "argument --timeout: must be a positive number, got -1"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_bench_bad_argument_is_one_line_exit_2(argv, message, nothing_runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", *argv, "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert info.value.code == 2 and captured.out == ""
    assert captured.err == f"mnist-mlp bench: error: {message} (see mnist-mlp bench --help)\n"
    assert not (tmp_path / "out").exists()
