"""The power study's tools (``benchmarks/slowdown.py``, ``benchmarks/ab_power_table.py``): the
slowed side slows what it says by the factor it says, and the resampled power applies ``ab``'s own
rule (the paired t-test, Benjamini-Hochberg, the factor), row by row."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mnist_mlp.compare.paired import judge_pairs

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def tools():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import ab_power_table
        import slowdown
    finally:
        sys.path.pop(0)
    return ab_power_table, slowdown


def _run_of(values: np.ndarray) -> dict:
    """A side's run: case k's batch-1 direct samples/s in each pair is ``values[k, pair]``."""
    def entry(pair: int, value: float) -> dict:
        return {"repeat": pair, "status": "ok", "inference": [
            {"path": "direct", "batch_size": 1, "samples_per_second": float(value), "seconds_per_batch": {"samples": []}}]}
    return {"cases": [{"id": f"c{k}", "status": "ok", "repeats": [entry(i + 1, v) for i, v in enumerate(row)]}
                      for k, row in enumerate(values)]}


def test_the_vectorised_rule_is_abs_rule_row_by_row(tools):
    """Drawn sessions of 40 rate figures, some slowed 1.1x to 3x, judged both ways: same verdicts."""
    ab_power_table, _ = tools
    rng = np.random.default_rng(3)
    agreed = flagged = 0
    for trial in range(12):
        shift = np.where(np.arange(40) < 10, -np.log(rng.uniform(1.1, 3.0, size=40)), 0.0)
        logs = rng.normal(0.0, 0.15, size=(40, 5)) + shift[:, None]
        paired = judge_pairs(_run_of(np.full((40, 5), 100.0)), _run_of(100.0 * np.exp(logs)))
        expected = [{"slower": 1, "faster": -1}.get(row.label, 0) for row in paired.rows]
        got = ab_power_table.judge_drawn(logs[None], -np.ones(40))[0].tolist()
        assert got == expected
        agreed += 1
        flagged += sum(v != 0 for v in got)
    assert agreed == 12 and flagged > 0  # some rows changed verdict: the comparison saw both kinds


def test_without_the_correction_the_rule_would_flag_more(tools):
    """Twenty figures 10% slower with p between 0.008 and 0.04 and twenty unchanged: each of the
    twenty is flagged on its own, none after Benjamini-Hochberg over the forty."""
    ab_power_table, _ = tools
    steps = np.array([-1.5, -0.5, 0.5, 1.5])
    rows = []
    for t in 3.4 + 0.15 * np.arange(20):
        spread = 2 * 0.1 / t / np.std(steps, ddof=1)
        rows.append(0.1 + spread * steps)
    rows += [0.002 * np.array([1.0, -1.0, 0.5, -0.5])] * 20
    verdicts = ab_power_table.judge_drawn(np.array(rows)[None], np.ones(40))[0]
    assert not verdicts.any()
    alone = [ab_power_table.judge_drawn(np.array(rows)[None, i:i + 1], np.ones(1))[0][0] for i in range(20)]
    assert alone == [1] * 20


def test_a_slowed_call_takes_the_factor_times_its_own_time(tools):
    _, slowdown = tools
    calls = []

    def work(x):
        calls.append(x)
        time.sleep(0.02)
        return x + 1

    slow = slowdown.slowed_call(work, 2.5)
    began = time.perf_counter()
    assert slow(1) == 2 and calls == [1]
    assert time.perf_counter() - began >= 2.5 * 0.02


def test_the_call_slowdown_wraps_the_suites_timed_calls(tools, monkeypatch):
    """After ``install_call_slowdown`` the inference callables, the Keras progress callback (batch
    begin hooks only, so Keras keeps its asynchronous dispatch) and native fit are the slowed ones."""
    _, slowdown = tools
    from mnist_mlp.bench import direct, suite
    from mnist_mlp.native import base

    for module, name in ((direct, "make_callable"), (suite, "progress_callback"), (base, "fit")):
        monkeypatch.setattr(module, name, getattr(module, name))
    original = direct.make_callable
    slowdown.install_call_slowdown(2.0)
    assert direct.make_callable is not original and base.fit.__name__ == "slowed_fit"
    callback = suite.progress_callback(type("P", (), {"epoch_started": lambda *a: None, "mark_epoch_start": lambda *a: None,
                                                      "epoch_finished": lambda *a: None})(), 0, 0, 1, 1)
    assert callback.on_train_batch_begin.__self__.__class__ is slowdown.StepSlowdown
    from keras.src import utils

    assert utils.is_default(callback.on_train_batch_end)


def test_measured_pairs_keep_the_figures_of_one_pair_together(tools, tmp_path, monkeypatch):
    """The resample draws whole pairs: each pair's figures stay the ones measured together."""
    ab_power_table, _ = tools
    logs = np.log(np.array([[1.0, 2.0, 4.0], [1.5, 1.5, 1.5]]))
    runs = {"A": _run_of(np.full((2, 3), 100.0)), "B": _run_of(100.0 * np.exp(logs))}
    monkeypatch.setattr(ab_power_table.results, "load", lambda folder: runs[Path(folder).name])
    figures, pairs = ab_power_table.measured_pairs([tmp_path / "session"])
    assert len(pairs) == 3 and len(figures) == 2
    assert [round(math.exp(p[figures[0]]), 6) for p in pairs] == [1.0, 2.0, 4.0]
    assert [round(math.exp(p[figures[1]]), 6) for p in pairs] == [1.5, 1.5, 1.5]


def test_a_slowdown_a_case_and_a_figure_are_caught_apart(tools):
    """Two cases of the slowed backend, one figure each steadily 2x slower in every pair and one
    lost in noise: the slowdown and the first case are caught in every drawn session, the second
    case only as often as its noisy figure; the backend left alone counts as false alarms only."""
    ab_power_table, _ = tools
    from mnist_mlp.compare.measures import Metric

    step = Metric("training.steady_ms_per_step", "steady-state time per step", "time", "ms")
    cold = Metric("training.wall_seconds.cold", "training wall time, cold", "time", "s")
    figures = [("torch-cpu", step), ("torch-cpu", cold), ("torch-cpu-native", step), ("jax-cpu", step)]
    backend_of = {"torch-cpu": "torch", "torch-cpu-native": "torch", "jax-cpu": "jax"}
    rng = np.random.default_rng(5)
    pairs = [{figures[0]: float(d), figures[1]: float(n1), figures[2]: float(n2), figures[3]: float(d)}
             for d, n1, n2 in zip(rng.normal(0, 0.01, 10), rng.normal(0, 1.0, 10), rng.normal(0, 1.0, 10))]
    row = ab_power_table.resample(figures, pairs, backend_of, "torch", 2.0, 5, 252, seed=0)
    assert row["slowdown_caught_share"] == 1.0 and row["case_caught_share"]["torch-cpu"] == 1.0
    assert row["case_caught_share"]["torch-cpu-native"] == row["caught_share"]["torch-cpu-native steady-state time per step"] < 0.5
    assert row["false_alarm_share"] == 0.0  # jax-cpu, unslowed and steady, is never flagged
