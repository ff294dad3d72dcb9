"""``compare``: within noise, real differences, not comparable, bad files, regression exit codes.

Fixtures are built by ``fixtures/compare/runfactory.py`` (valid results.json documents) and a
few broken files in ``fixtures/compare/``; nothing trains, nothing touches the network.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.compare.runfactory import WORKLOAD, band, case, make_run, workload, write_run
from mnist_mlp import compare, results
from mnist_mlp.compare.noise import NoiseBand
from mnist_mlp.cli.main import main
from mnist_mlp.report.compare_text import comparison_markdown, comparison_table

FIXTURES = Path(__file__).parent / "fixtures" / "compare"


def _runs(tmp_path, other_cases, **other):
    base = write_run(tmp_path, make_run([case(), case("torch", walls=(80.0, 81.0, 79.0))]))
    other.setdefault("run_id", "20261128T040000Z_hostB")
    other.setdefault("host", "hostB")
    return base, write_run(tmp_path, make_run(other_cases, **other))


def _compare(paths, **band_options):
    """Compare the runs at ``paths`` with a noise band covering every metric they hold."""
    infos = compare.load_runs(paths)
    return compare.compare(infos, band=band([i.run for i in infos], **band_options))


def _rows(comparison, case_key):
    return {row.metric.key: row for row in comparison.rows if row.case == case_key}


def test_same_machine_twice_is_within_noise(tmp_path):
    a, b = _runs(tmp_path, [case(walls=(60.4, 60.9, 60.6), accuracies=(0.976, 0.975, 0.977), seed=5),
                            case("torch", walls=(80.5, 80.0, 79.5), seed=6)])
    result = _compare([a, b])
    assert not result.not_comparable
    labels = {row.verdicts[1].label for row in result.rows if row.metric.kind != "machine"}
    assert labels == {"within noise"}
    assert {row.verdicts[1].label for row in result.rows if row.metric.kind == "machine"} == {"another machine"}
    assert result.regressions(slower_pct=1, less_accurate_pp=0.01) == []
    assert result.movements["B"].moved == "neither"


def test_real_difference_is_named_with_ratio(tmp_path):
    a, b = _runs(tmp_path, [case(walls=(90.0, 91.0, 92.0), accuracies=(0.95, 0.951, 0.952), seconds_per_batch=0.002, seed=3),
                            case("torch", walls=(80.5, 81.0, 79.5), seed=4)], keras="3.16.0")
    result = _compare([a, b])
    jax = _rows(result, "jax-cpu")
    cold, warm = jax["training.wall_seconds.cold"].verdicts[1], jax["training.wall_seconds.warm"].verdicts[1]
    assert cold.label == "slower" and cold.ratio == pytest.approx(90.0 / 60.0) and cold.test == compare.BAND
    # the seeds' times of one process share its machine state: one process a side is judged by the band
    assert warm.label == "slower" and warm.ratio == pytest.approx(91.5 / 60.75) and warm.test == compare.BAND
    assert jax["training.test_accuracy"].verdicts[1].label == "less accurate"
    assert jax["inference.direct.128"].verdicts[1].label == "slower"
    assert jax["latency.direct.p50"].verdicts[1].label == "slower"
    assert _rows(result, "torch-cpu")["training.wall_seconds.warm"].verdicts[1].label == "within noise"
    differing = dict(result.differences)
    assert differing["software.keras"] == ["3.15.1", "3.16.0"]
    assert differing["machine.host"] == ["hostA", "hostB"]
    markdown = comparison_markdown(result)
    assert "slower" in markdown and "software.keras" in markdown


def test_cold_is_compared_with_cold_and_warm_with_warm(tmp_path):
    """Seed 0 (cold, 90 s) is never averaged with the warm seeds (60 s): each has a row of its own."""
    a = write_run(tmp_path, make_run([case(walls=(90.0, 60.0, 61.0))]))
    b = write_run(tmp_path, make_run([case(walls=(91.0, 60.5, 60.0), seed=2)], run_id="b"))
    rows = _rows(_compare([a, b]), "jax-cpu")
    assert rows["training.wall_seconds.cold"].measures[0].samples == [90.0]
    assert rows["training.wall_seconds.warm"].measures[0].samples == [60.0, 61.0]
    assert rows["training.wall_seconds.cold"].metric.condition == "cold"
    assert "training.wall_seconds" not in rows  # the mixed figure is gone


def test_judge_rule_is_a_named_test_with_p_value_and_effect():
    metric = compare.Metric("m", "m", "time", "s")
    far_but_overlapping = compare.judge(metric, compare.Measure(10.0, [9.0, 10.0, 11.0]), compare.Measure(10.5, [10.4, 10.5, 10.6]))
    assert far_but_overlapping.label == "within noise" and far_but_overlapping.p_value > 0.05
    clear = compare.judge(metric, compare.Measure(10.0, [9.9, 10.0, 10.1]), compare.Measure(12.0, [11.9, 12.0, 12.1]))
    assert clear.label == "slower" and clear.significant and clear.test == compare.WELCH
    # times on the log scale: d = (mean log b - mean log a) / pooled sd of the logs
    logs_a, logs_b = [math.log(v) for v in (9.9, 10.0, 10.1)], [math.log(v) for v in (11.9, 12.0, 12.1)]
    pooled = math.sqrt((statistics.variance(logs_a) + statistics.variance(logs_b)) / 2)
    assert clear.p_value < 1e-4 and clear.effect["cohens_d"] == pytest.approx(
        (statistics.fmean(logs_b) - statistics.fmean(logs_a)) / pooled)
    unknown = compare.judge(metric, compare.Measure(10.0, [10.0]), compare.Measure(12.0, [12.0]))
    assert unknown.label == "not tested" and unknown.significant is None and unknown.p_value is None
    assert "no noise band" in unknown.describe()
    rate = compare.Metric("r", "r", "rate", "/s")
    assert compare.judge(rate, compare.Measure(100.0, [99.0, 100.0, 101.0]), compare.Measure(200.0, [199.0, 200.0, 201.0])).label == "faster"


def test_no_spread_on_either_side_invents_no_p_value():
    """Both sides constant: once p was 0 or 1; now, without a band, the row is not tested."""
    metric = compare.Metric("m", "m", "time", "s")
    verdict = compare.judge(metric, compare.Measure(10.0, [10.0, 10.0]), compare.Measure(12.0, [12.0, 12.0]))
    assert verdict.label == "not tested" and verdict.p_value is None and verdict.q_value is None


def test_welch_not_student_p_value_by_hand():
    """Unequal variances and sizes: the p-value is Welch's (Satterthwaite's df), not the pooled t's."""
    from scipy import stats

    raw_a, raw_b = [10.0, 10.1, 9.9, 10.05], [11.0, 13.0, 9.0, 12.0, 14.0, 10.0]
    a, b = [math.log(v) for v in raw_a], [math.log(v) for v in raw_b]  # times are compared on the log scale
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va, vb = (sum((x - ma) ** 2 for x in a) / 3), (sum((x - mb) ** 2 for x in b) / 5)
    se2 = va / 4 + vb / 6
    df = se2**2 / ((va / 4) ** 2 / 3 + (vb / 6) ** 2 / 5)
    welch_p = 2 * stats.t.sf(abs(mb - ma) / se2**0.5, df)
    verdict = compare.judge(compare.Metric("m", "m", "time", "s"), compare.Measure(10.0, raw_a), compare.Measure(11.5, raw_b))
    assert verdict.p_value == pytest.approx(welch_p, rel=1e-9)
    student_p = stats.ttest_ind(b, a, equal_var=True).pvalue
    assert abs(student_p - welch_p) > 0.01  # the two differ here, so the check above can tell them apart


def test_rounds_are_not_independent_samples():
    """30 tight rounds a side 30% apart: no test from the rounds (they share one run's machine state);
    against a band of 20% run-to-run spread the 30% is within noise, by the band's t on the log ratio."""
    from scipy import stats

    base = [1.0 + 0.01 * i for i in range(30)]
    other = [x + 0.3 for x in base]
    metric = compare.Metric("l", "l", "time", "ms")
    rounds_a, rounds_b = compare.Measure(1.145, base, independent=False), compare.Measure(1.445, other, independent=False)
    assert compare.judge(metric, rounds_a, rounds_b).label == "not tested"
    entry = compare.noise.BandEntry(sd=0.2, sd_per_peak=None, runs=5, scale="log")
    verdict = compare.judge(metric, rounds_a, rounds_b, entry)
    expected = 2 * stats.t.sf(abs(math.log(1.445 / 1.145)) / (0.2 * math.sqrt(2)), 4)
    assert verdict.test == compare.BAND and verdict.p_value == pytest.approx(expected) and verdict.label == "within noise"
    tight = compare.judge(metric, rounds_a, rounds_b, compare.noise.BandEntry(0.02, None, 5, "log"))
    assert tight.label == "slower"


def test_small_drift_against_the_band_is_within_noise_but_accuracy_has_no_floor():
    """A 1% drift, even with a band so tight that p is tiny, stays within noise below the 5% floor."""
    entry = compare.noise.BandEntry(sd=0.001, sd_per_peak=None, runs=5, scale="log")
    rate = compare.judge(compare.Metric("r", "r", "rate", "/s"), compare.Measure(100.0, independent=False),
                         compare.Measure(101.0, independent=False), entry)
    assert rate.p_value < 0.01 and rate.label == "within noise" and rate.significant is False
    accuracy = compare.Metric("a", "a", "accuracy", "%")
    drop = compare.judge(accuracy, compare.Measure(0.976, [0.975, 0.976, 0.977]), compare.Measure(0.966, [0.965, 0.966, 0.967]))
    assert drop.label == "less accurate" and drop.p_value < 0.01


def test_one_value_against_several_is_judged_by_the_band():
    """Three seeds against one: the one-seed side has no spread of its own, so the band judges the ratio."""
    many = [60.0, 61.0, 60.5]
    metric = compare.Metric("m", "m", "time", "s")
    assert compare.judge(metric, compare.Measure(60.5, many), compare.Measure(90.0, [90.0])).label == "not tested"
    entry = compare.noise.BandEntry(sd=0.05, sd_per_peak=None, runs=5, scale="log")
    near = compare.judge(metric, compare.Measure(60.5, many), compare.Measure(60.3, [60.3]), entry)
    assert near.test == compare.BAND and near.label == "within noise"
    far = compare.judge(metric, compare.Measure(60.5, many), compare.Measure(90.0, [90.0]), entry)
    assert far.label == "slower" and far.p_value < 0.01


def test_markdown_shows_p_value_and_effect(tmp_path):
    a, b = _runs(tmp_path, [case(walls=(90.0, 91.0, 92.0), accuracies=(0.95, 0.951, 0.952), seed=3),
                            case("torch", walls=(80.5, 81.0, 79.5), seed=4)])
    result = _compare([a, b])
    markdown = comparison_markdown(result)
    wall = _rows(result, "jax-cpu")["training.test_accuracy"].verdicts[1]  # seeds: independent draws of accuracy
    assert f"less accurate, {wall.describe()}" in markdown and "p=" in wall.describe() and "q=" in wall.describe() and "d=-" in wall.describe()
    assert "Welch's t-test" in markdown and "noise band" in markdown and "Mann-Whitney" not in markdown
    row = next(r for r in result.to_dict()["rows"] if r["case"] == "jax-cpu" and r["metric"] == "training.test_accuracy")
    assert row["versus_first"][1]["test"] == compare.WELCH and row["versus_first"][1]["p_value"] == wall.p_value
    assert row["versus_first"][1]["q_value"] == wall.q_value >= wall.p_value


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"workload": {**WORKLOAD, "train": {**WORKLOAD["train"], "epochs": 1}}}, "workload.train.epochs 1 vs 25"),
        ({"sha": "b" * 64}, "dataset sha256"),
        ({"workload": workload(learning_rate=0.1)}, "workload.train.learning_rate 0.1 vs 0.001"),
        ({"workload": {**WORKLOAD, "model": {**WORKLOAD["model"], "hidden_units": [256, 32]}}}, "workload.model.hidden_units"),
        ({"workload": {**WORKLOAD, "target_accuracy": 0.98}}, "workload.target_accuracy 0.98 vs 0.975"),
    ],
)
def test_not_comparable_says_why(tmp_path, capsys, change, reason):
    a, b = _runs(tmp_path, [case()], **change)
    code = main(["compare", str(a), str(b), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    assert "Not comparable" in out and reason in out
    assert (tmp_path / "out" / "compare.md").is_file()
    assert not (tmp_path / "out" / "compare.png").exists()


def test_seed_list_and_batch_sizes_do_not_make_runs_incomparable(tmp_path):
    other = workload(seeds=5, batch_sizes=(1,), profile="quick", timeout=60.0, backends=("jax",), devices=("cpu",))
    assert other["profile"]["seeds"] == 5 and other["profile"]["name"] == "quick"  # the harness's nested copy differs too
    a, b = _runs(tmp_path, [case()], workload=other)
    result = compare.compare(compare.load_runs([a, b]))
    assert result.not_comparable == {}
    differing = dict(result.differences)  # listed as what differs, not as a reason
    assert differing["workload.seeds"] == [[0, 1, 2], [0, 1, 2, 3, 4]]
    assert differing["workload.timeout_s"] == [300.0 + 30.0 * 3 * 25, 60.0]  # the full rule: 3 seeds x 25 epochs
    assert differing["workload.profile.name"] == ["full", "quick"]


def test_one_seed_run_against_three_seed_run(tmp_path):
    a, b = _runs(tmp_path, [case(accuracies=(0.976,), walls=(60.3,), seed=3), case("torch", accuracies=(0.975,), walls=(80.2,), seed=4)],
                 workload=workload(seeds=1))
    result = _compare([a, b])
    assert result.not_comparable == {}
    cold = _rows(result, "jax-cpu")["training.wall_seconds.cold"]
    assert [len(m.samples) for m in cold.measures] == [1, 1]
    assert cold.verdicts[1].label == "within noise" and cold.verdicts[1].test == compare.BAND
    warm = _rows(result, "jax-cpu")["training.wall_seconds.warm"]
    assert warm.measures[1] is None and warm.verdicts[1] is None
    assert "jax-cpu training wall time, warm: run B ran one seed, a cold figure only (no warm seed to compare with)" in result.missing
    assert "B (vs A)" in comparison_table(result) and "Not comparable" not in comparison_markdown(result)


def test_jax_only_run_against_the_full_matrix(tmp_path, capsys):
    full = [case(), case("torch", walls=(80.0, 81.0, 79.0)), case("tensorflow", walls=(70.0, 71.0, 70.5))]
    a = write_run(tmp_path, make_run(full))
    b = write_run(tmp_path, make_run([case(seed=3)], run_id="jax-only", workload=workload(backends=("jax",), devices=("cpu",))))
    result = _compare([a, b])
    assert result.not_comparable == {}
    assert {row.case for row in result.rows} == {"jax-cpu", "torch-cpu", "tensorflow-cpu"}
    assert all(row.measures[1] is None for row in result.rows if row.case != "jax-cpu")
    assert sorted(m.split(":")[0] for m in result.missing) == ["tensorflow-cpu", "torch-cpu"]
    assert {row.verdicts[1].label for row in result.rows if row.case == "jax-cpu" and row.metric.kind != "machine"} == {"within noise"}
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "o"), "--fail-if-slower", "5"]) == 0
    assert "torch-cpu: no successful result in run B" in capsys.readouterr().out


def test_metric_measured_in_one_run_only_is_shown_missing(tmp_path):
    a, b = _runs(tmp_path, [case(sizes=(1, 128, 10000), seed=3), case("torch", seed=4)], workload=workload(batch_sizes=(1, 128, 10000)))
    result = compare.compare(compare.load_runs([a, b]))
    assert result.not_comparable == {}
    row = _rows(result, "jax-cpu")["inference.direct.10000"]
    assert row.measures[0] is None and row.measures[1].value and row.verdicts[1] is None
    assert "jax-cpu inference samples/s, direct, batch 10000: not measured in run A" in result.missing
    keys = [r.metric.key for r in result.rows if r.case == "jax-cpu"]
    assert keys.index("inference.direct.128") < keys.index("inference.direct.10000") < keys.index("latency.direct.p50")


def test_chart_uses_the_largest_batch_every_run_measured(tmp_path):
    from mnist_mlp.report.compare_plot import _panel_metrics, plot_comparison

    a, b = _runs(tmp_path, [case(sizes=(1, 128, 10000), seed=3), case("torch", seed=4)], workload=workload(batch_sizes=(1, 128, 10000)))
    result = compare.compare(compare.load_runs([a, b]))
    keys = [key for key, _, _ in _panel_metrics(result)]
    assert "inference.direct.128" in keys and "inference.direct.10000" not in keys
    png = plot_comparison(result, tmp_path / "chart.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_latency_spread_comes_from_the_latency_rounds_only(tmp_path):
    a, b = _runs(tmp_path, [case(seconds_per_batch=0.002, seed=3), case("torch", seed=4)])
    latency = _rows(_compare([a, b]), "jax-cpu")["latency.direct.p50"]
    assert [len(m.samples) for m in latency.measures] == [30, 30] and latency.verdicts[1].label == "slower"
    assert latency.verdicts[1].test == compare.BAND  # the rounds show the spread; the band judges
    # without samples_ms the spread is unknown, though the throughput sweep has batch-1 rounds
    c, d = _runs(tmp_path / "old", [case(seconds_per_batch=0.002, seed=3, latency_samples=False), case("torch", seed=4)])
    base = json.loads((c / "results.json").read_text())
    for entry in base["cases"]:
        entry["latency_ms"]["direct"].pop("samples_ms")
    (c / "results.json").write_text(json.dumps(base))
    result = compare.compare(compare.load_runs([c, d]), band=NoiseBand({"profiles": {}}))  # no band either
    latency = _rows(result, "jax-cpu")["latency.direct.p50"]
    assert latency.measures[0].samples == [] and latency.measures[1].samples == []
    assert latency.verdicts[1].label == "not tested" and latency.verdicts[1].significant is None
    assert _rows(result, "jax-cpu")["inference.direct.1"].measures[0].samples  # the rounds that are not used


def test_older_schema_version_is_not_comparable():
    base, older = make_run(), make_run()
    older["schema_version"] = results.SCHEMA_VERSION - 1  # e.g. a v1 file, whose GFLOP/s counted 3 forward passes
    assert compare.not_comparable_reasons(base, older) == [f"schema_version {results.SCHEMA_VERSION - 1} vs {results.SCHEMA_VERSION}"]


def test_newer_schema_version_is_refused_naming_the_file(tmp_path, capsys):
    a = write_run(tmp_path, make_run())
    newer = write_run(tmp_path, make_run(schema_version=results.SCHEMA_VERSION + 1), "newer")
    assert main(["compare", str(a), str(newer), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "newer" in err and f"schema_version {results.SCHEMA_VERSION + 1}" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("name, says", [
    ("foreign.json", "not an mnist-mlp results file"),
    ("truncated.json", "not valid JSON"),
    ("bad_values.json", "outside [0, 1]"),
    ("missing.json", "not found"),
])
def test_malformed_or_foreign_file_is_one_line_exit_2(tmp_path, capsys, name, says):
    a = write_run(tmp_path, make_run())
    assert main(["compare", str(a), str(FIXTURES / name), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err and says in err


def test_fail_if_slower_and_less_accurate_exit_codes(tmp_path, capsys):
    a, b = _runs(tmp_path, [case(walls=(90.0, 91.0, 92.0), accuracies=(0.95, 0.951, 0.952), seed=3),
                            case("torch", walls=(80.5, 81.0, 79.5), seed=4)])
    out = ["--out", str(tmp_path / "out")]
    assert main(["compare", str(a), str(b), *out, "--fail-if-slower", "10"]) == 1
    assert "slower than A" in capsys.readouterr().err
    assert main(["compare", str(a), str(b), *out, "--fail-if-slower", "60"]) == 0  # 50% slower is within 60%
    assert main(["compare", str(a), str(b), *out, "--fail-if-less-accurate", "2"]) == 1
    assert main(["compare", str(a), str(b), *out, "--fail-if-less-accurate", "3"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("flag, value", [("--fail-if-slower", "0"), ("--fail-if-slower", "-5"), ("--fail-if-slower", "x"),
                                         ("--fail-if-less-accurate", "0"), ("--fail-if-less-accurate", "100")])
def test_limits_out_of_range_exit_2(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "a", "b", flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err


def test_regression_check_refuses_incomparable_runs(tmp_path, capsys):
    a, b = _runs(tmp_path, [case()], sha="b" * 64)
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "o"), "--fail-if-slower", "5"]) == 2
    assert "not comparable" in capsys.readouterr().err


def test_json_output_and_files(tmp_path, capsys):
    a, b = _runs(tmp_path, [case(seed=3), case("torch", seed=4)])
    assert main(["compare", str(a), str(b / "results.json"), "--out", str(tmp_path / "o"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["baseline"] == "A" and payload["rows"]
    assert {Path(f).name for f in payload["files"]} == {"compare.md", "compare.json", "compare.png"}
    assert (tmp_path / "o" / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_three_runs_and_missing_case(tmp_path):
    a, b = _runs(tmp_path, [case(seed=3)])
    c = write_run(tmp_path, make_run([case(seed=9), case("torch", seed=8)], run_id="r3"))
    result = compare.compare(compare.load_runs([a, b, c]))
    assert [r.label for r in result.runs] == ["A", "B", "C"]
    assert any("torch-cpu" in m and "B" in m for m in result.missing)
    assert "C (vs A)" in comparison_table(result)


def test_raw_pytest_benchmark_json_stays_readable(tmp_path):
    """A real (tiny) pytest-benchmark run's JSON: pytest-benchmark compare reads it; we refuse it."""
    (tmp_path / "test_tiny.py").write_text("def test_tiny(benchmark):\n    benchmark(sum, range(10))\n")
    raw = tmp_path / "raw" / "jax-cpu.json"
    raw.parent.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-json", str(raw),
         "--benchmark-max-time=0.01", "--benchmark-min-rounds=3", "test_tiny.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    shown = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(raw)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "test_tiny" in shown.stdout
    # the run folder holding it is compared and gated without touching raw/
    folder = write_run(tmp_path, make_run([case(accuracies=(0.976, 0.977, 0.975))]), ".")
    assert main(["compare", str(folder), str(folder), "--out", str(tmp_path / "o")]) == 0
    assert main(["gate", str(folder)]) == 0
    assert main(["compare", str(folder), str(raw), "--out", str(tmp_path / "o")]) == 2
    assert hashlib.sha256(raw.read_bytes()).hexdigest() == digest


def test_one_run_alone_is_set_against_the_newest_reference_run(tmp_path, monkeypatch, capsys):
    """``compare RUN``: the baseline is the newest run under reports/reference/ (its folder name
    is its UTC time), said on standard error; without one, a one-line error."""
    import json as json_module

    from fixtures.compare.runfactory import make_run, write_run
    from mnist_mlp.cli import compare as compare_cli
    from mnist_mlp.cli.main import main

    reports = tmp_path / "reports"
    monkeypatch.setattr(compare_cli, "DEFAULT_REPORTS", reports)
    mine = write_run(tmp_path / "mine", make_run(run_id="20261203T000000Z_vm"))
    assert main(["compare", str(mine), "--out", str(tmp_path / "none")]) == 2
    assert "a reference run under" in capsys.readouterr().err
    write_run(reports / "reference", make_run(run_id="20261127T040000Z_hostA"))
    newest = write_run(reports / "reference", make_run(run_id="20261129T040000Z_hostA"))
    assert main(["compare", str(mine), "--out", str(tmp_path / "out"), "--json"]) == 0
    out = capsys.readouterr()
    assert json_module.loads(out.out)["runs"][0]["path"].endswith(str(newest.relative_to(tmp_path)) + "/results.json") or \
        str(newest) in json_module.loads(out.out)["runs"][0]["path"]
    assert f"the baseline is the reference run {newest}" in out.err


def test_open_runs_with_another_recipe_are_not_judged_and_nothing_untested_is_explained():
    """Two committed open runs: Keras on TensorFlow raced another recipe in the second (one compiled
    call per epoch), so its time to the target is shown, not tested, and the row says what
    changed; with no row tested at all, the verdict says it cannot tell what moved, even though
    some peaks moved (it once said "the probes explain them")."""
    from mnist_mlp.compare import compare, load_runs
    from mnist_mlp.report.compare_text import movement_sentence

    open_runs = Path(__file__).resolve().parents[1] / "reports" / "open"
    result = compare(load_runs([open_runs / "20261204T152817Z_vm", open_runs / "20261204T181439Z_vm"]))
    score = {row.case: row.verdicts[1] for row in result.rows if row.metric.key == "race.score"}
    assert score["tensorflow-cpu"].label == "not tested" and score["tensorflow-cpu"].p_value is None
    assert score["tensorflow-cpu"].why_untested == "another recipe (steps_per_execution 1 -> 250)"
    assert score["tensorflow-cpu"].ratio == pytest.approx(5.43 / 13.70, rel=0.01)
    assert "another recipe" not in score["jax-cpu"].why_untested  # the same recipe in both runs
    move = result.movements["B"]
    assert move.machine_changed and move.moved == "unknown"
    assert movement_sentence(move).startswith("Not known: no row could be tested")


def test_recipe_difference_names_each_changed_field_and_a_missing_recipe():
    from mnist_mlp.compare.measures import recipe_difference

    def raced(**recipe):
        return {"race": {"recipe": {"name": "r", "batch_size": 240, "learning_rate": 0.008, "epochs": 12, **recipe}}}

    old = raced()  # written before steps_per_execution existed: its default, 1
    assert recipe_difference(old, raced(steps_per_execution=1, name="other name")) == ""
    assert recipe_difference(old, raced(learning_rate=0.008000000000000002)) == ""  # equal to rounding
    assert recipe_difference(old, raced(steps_per_execution=250, batch_size=120)) == "batch_size 240 -> 120, steps_per_execution 1 -> 250"
    assert recipe_difference(old, {"race": {}}) == "the recipe of one run is not recorded"
    assert recipe_difference({}, {}) == ""
