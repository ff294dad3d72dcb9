"""compare between healthy runs: the noise band, the false discovery rate, the machine's speed.

The simulation draws pairs of runs of one commit on one machine from one distribution (every
figure with its own run-to-run noise, seeds with their own spread around the run's level, rounds
tight inside a run) and compares them as a user would. At most 5% of the comparisons may report
any difference. The same simulation, judged without the correction or with the rounds' spread in
place of the measured band (what feeding rounds to a test amounted to), reports far more: the
checks below fail if either safeguard is removed.
"""

from __future__ import annotations

import math
import random

import pytest

from fixtures.compare.runfactory import band, case, make_run, write_run
from mnist_mlp import compare
from mnist_mlp.compare.comparison import RunInfo
from mnist_mlp.report.compare_text import comparison_markdown

RUN_SD = 0.04  # run-to-run spread (log scale) of every figure
SEED_SD = 0.01  # spread of the seeds inside one run
BACKENDS = ("jax", "torch", "tensorflow")


def _healthy_run(rng: random.Random, index: int) -> dict:
    cases = []
    for backend in BACKENDS:
        level = math.exp(rng.gauss(0.0, RUN_SD))  # this run's level for the training times
        cold = 60.0 * math.exp(rng.gauss(0.0, RUN_SD))
        walls = (cold, *(60.0 * level * math.exp(rng.gauss(0.0, SEED_SD)) for _ in range(2)))
        accuracies = tuple(0.976 + rng.gauss(0.0, 0.001) for _ in range(3))
        entry = case(backend, walls=walls, accuracies=accuracies, seed=rng.randrange(10**6),
                     seconds_per_batch=0.001 * math.exp(rng.gauss(0.0, RUN_SD)),
                     peak=100.0 * math.exp(rng.gauss(0.0, 0.01)))
        for row in entry["inference"]:  # each batch size its own run-to-run draw, rounds tight around it
            factor = math.exp(rng.gauss(0.0, RUN_SD))
            row["samples_per_second"] *= factor
            row["seconds_per_batch"]["samples"] = [s / factor for s in row["seconds_per_batch"]["samples"]]
        cases.append(entry)
    return make_run(cases, run_id=f"run{index}")


def _any_difference(comparison: compare.Comparison) -> bool:
    return any(count.surviving or count.surviving_per_peak for count in comparison.tests.values())


def _false_alarm_rate(pairs: int = 150, *, fdr: bool = True, rounds_band: bool = False) -> float:
    rng = random.Random(20261201)
    calibration = [_healthy_run(rng, i) for i in range(8)]  # the lead's repeated runs of one commit
    measured = compare.NoiseBand(compare.derive_band(calibration), "simulated")
    tight = band(calibration, sd=0.005, accuracy_sd=0.0005, count=30)  # the rounds' own spread, as if runs
    alarms = 0
    for index in range(pairs):
        runs = [RunInfo("A", "a", _healthy_run(rng, 2 * index)), RunInfo("B", "b", _healthy_run(rng, 2 * index + 1))]
        alarms += _any_difference(compare.compare(runs, band=tight if rounds_band else measured, fdr=fdr))
    return alarms / pairs


def test_healthy_pairs_report_a_difference_in_at_most_5_percent():
    assert _false_alarm_rate() <= 0.05


def test_without_the_correction_healthy_pairs_report_differences():
    """The check above can fail: about 30 tests a comparison, each at 0.05, alarm most of the time."""
    assert _false_alarm_rate(60, fdr=False) > 0.25


def test_rounds_in_place_of_the_band_report_differences():
    """Judged by the rounds' spread (what treating rounds as samples did), healthy pairs alarm often."""
    assert _false_alarm_rate(60, rounds_band=True) > 0.25


def test_band_derived_from_repeated_runs_holds_absolute_and_per_peak_spread():
    rng = random.Random(3)
    runs = [_healthy_run(rng, i) for i in range(6)]
    doc = compare.derive_band(runs, command="benchmarks/noise_runs.sh")
    metrics = doc["profiles"]["full"]["metrics"]
    entry = metrics["jax-cpu|inference.direct.128"]
    assert entry["runs"] == 6 and entry["scale"] == "log"
    values = [next(r for r in run["cases"] if r["id"] == "jax-cpu")["inference"][1]["samples_per_second"] for run in runs]
    logs = [math.log(v) for v in values]
    mean = sum(logs) / 6
    assert entry["sd"] == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in logs) / 5))
    assert entry["sd_per_peak"] is not None and entry["sd_per_peak"] != entry["sd"]
    assert metrics["jax-cpu|training.test_accuracy"]["scale"] == "absolute"
    assert not any(key.startswith("*|") for key in metrics)  # no widest spread standing in for unmeasured cases
    scope = doc["profiles"]["full"]
    assert scope["machines"] == sorted({compare.noise.machine_key(run) for run in runs})
    assert scope["workload"] == compare.noise.workload_key(runs[0])
    assert doc["command"] == "benchmarks/noise_runs.sh"


def test_without_a_band_single_value_rows_are_not_tested_and_said_so(tmp_path):
    a = write_run(tmp_path, make_run([case()]))
    b = write_run(tmp_path, make_run([case(seed=4)], run_id="b"))
    result = compare.compare(compare.load_runs([a, b]), band=compare.NoiseBand({"profiles": {}}))
    rows = {row.metric.key: row.verdicts[1] for row in result.rows}
    assert rows["training.wall_seconds.cold"].label == "not tested"
    assert rows["inference.direct.128"].label == "not tested" and rows["inference.direct.128"].p_value is None
    # the warm seeds of one process are no sample of the next run: not tested, said as such
    assert rows["training.wall_seconds.warm"].label == "not tested" and "--repeats" in rows["training.wall_seconds.warm"].describe()
    assert rows["training.test_accuracy"].test == compare.WELCH  # seeds are independent draws of accuracy
    count = result.tests["B"]
    assert count.not_tested >= 4 and count.welch == 1 and count.band == 0
    markdown = comparison_markdown(result)
    assert "not tested" in markdown and "no noise band" in markdown


def test_machine_speed_row_and_ratio_per_unit_of_peak(tmp_path):
    """The machine twice as fast and the framework as efficient: x2 faster, machine x2, per peak x1."""
    a = write_run(tmp_path, make_run([case(seconds_per_batch=0.002, peak=100.0)]))
    faster = case(seconds_per_batch=0.001, peak=200.0, seed=4, walls=(30.0, 30.5, 30.25))
    for seed in faster["training"]["per_seed"]:
        seed["steady_ms_per_step"] /= 2.0  # every time halves with the machine
    b = write_run(tmp_path, make_run([faster], run_id="b"))
    result = compare.compare(compare.load_runs([a, b]), band=band([compare.load_runs([a])[0].run]))
    rows = {row.metric.key: row for row in result.rows}
    machine = rows["machine.peak_gflops"]
    assert [m.value for m in machine.measures] == [100.0, 200.0]
    assert machine.verdicts[1].ratio == pytest.approx(2.0) and machine.verdicts[1].label == "machine speed changed"
    inference = rows["inference.direct.128"].verdicts[1]
    assert inference.label == "faster" and inference.machine_ratio == pytest.approx(2.0)
    assert inference.per_peak_ratio == pytest.approx(inference.ratio / 2.0)
    assert inference.per_peak.label == "within noise"
    latency = rows["latency.direct.p50"].verdicts[1]  # a time: per peak is the ratio times the machine's
    assert latency.per_peak_ratio == pytest.approx(latency.ratio * 2.0)
    assert result.movements["B"].moved == "machine"
    markdown = comparison_markdown(result)
    assert "; machine x2.00 (latency probe); per unit of latency probe x1.0" in markdown
    assert "The machine moved, not the framework" in markdown and "Neither" not in markdown


def test_machine_speed_changed_only_beyond_the_runs_own_probe_spread(tmp_path):
    steady_a = write_run(tmp_path, make_run([case(peak=100.0, peak_spread=12.0)]))
    steady_b = write_run(tmp_path, make_run([case(peak=108.0, peak_spread=3.0, seed=2)], run_id="b"))
    result = compare.compare(compare.load_runs([steady_a, steady_b]), band=compare.NoiseBand({}))
    assert next(r for r in result.rows if r.metric.kind == "machine").verdicts[1].label == "same machine speed"
    moved = write_run(tmp_path, make_run([case(peak=130.0, peak_spread=3.0, seed=2)], run_id="c"))
    result = compare.compare(compare.load_runs([steady_a, moved]), band=compare.NoiseBand({}))
    assert next(r for r in result.rows if r.metric.kind == "machine").verdicts[1].label == "machine speed changed"
    other_host = write_run(tmp_path, make_run([case(peak=130.0, seed=2)], run_id="d", host="elsewhere"))
    result = compare.compare(compare.load_runs([steady_a, other_host]), band=compare.NoiseBand({}))
    assert next(r for r in result.rows if r.metric.kind == "machine").verdicts[1].label == "another machine"


def test_framework_moved_when_per_peak_differs_on_a_steady_machine(tmp_path):
    a = write_run(tmp_path, make_run([case(seconds_per_batch=0.001)]))
    b = write_run(tmp_path, make_run([case(seconds_per_batch=0.002, seed=4)], run_id="b"))
    result = compare.compare(compare.load_runs([a, b]), band=band([compare.load_runs([a])[0].run]))
    assert result.movements["B"].moved == "framework" and result.tests["B"].surviving_per_peak > 0
    assert "The framework moved" in comparison_markdown(result)


def test_noise_band_script_writes_the_band_and_refuses_mixed_commits(tmp_path, capsys):
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "noise_band.py"
    spec = importlib.util.spec_from_file_location("noise_band_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = random.Random(5)
    paths = [write_run(tmp_path, _healthy_run(rng, i)) for i in range(3)]
    out = tmp_path / "band.json"
    assert module.main([*map(str, paths), "--out", str(out)]) == 0
    band_doc = json.loads(out.read_text())
    assert band_doc["profiles"]["full"]["metrics"]["jax-cpu|inference.direct.1"]["runs"] == 3
    assert "benchmarks/noise_band.py" in band_doc["command"]
    loaded = compare.load_band(out)
    assert loaded.entry("full", "jax-cpu", compare.Metric("inference.direct.1", "", "rate", "/s")).runs == 3
    other = _healthy_run(rng, 9)
    other["tool"]["commit"] = "deadbeef"
    mixed = write_run(tmp_path, other)
    assert module.main([str(paths[0]), str(mixed), "--out", str(tmp_path / "x.json")]) == 2
    assert "one commit on one machine" in capsys.readouterr().err
