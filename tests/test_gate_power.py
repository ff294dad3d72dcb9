"""The gate's power study and its out-of-sample false alarms: regressions, detection rates, the
normal model, the study's files and its command (issue 10).

The statistics are checked against closed forms (one seed: the normal CDF) and against numbers
that change when the formula or a threshold changes, so a wrong model or an edited thresholds
file fails here. The committed study and out-of-sample reports are checked against what their
committed data give.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from fixtures.compare.runfactory import case, make_run, write_run
from mnist_mlp import results
from mnist_mlp.gate import calibration
from mnist_mlp.gate import check as gate
from mnist_mlp.gate import false_alarms as gate_false_alarms
from mnist_mlp.gate import power as gate_power
from mnist_mlp.gate import power_study
from mnist_mlp.gate import regressions
from mnist_mlp.errors import EXIT_BAD_INPUT, EXIT_CASES_FAILED, ResultFileError, UsageError
from mnist_mlp.cli.gate_study import main

ROOT = Path(__file__).resolve().parent.parent
POWER_DIR = ROOT / "reports" / "calibration" / "power"
OUT_OF_SAMPLE_DIR = ROOT / "reports" / "calibration" / "out-of-sample"


@pytest.fixture(scope="module")
def shipped():
    doc, _ = calibration.load()
    return doc


def params_of(thresholds):
    return gate_power.gate_params("jax", thresholds)[1]


# ---------------------------------------------------------------- the regressions


def test_label_shuffle_permutes_the_chosen_fraction_and_follows_the_seed():
    y = np.arange(10_000) % 10
    shuffled = regressions.make("label_shuffle", 0.2).labels(y, seed=3)
    changed = np.count_nonzero(shuffled != y)
    assert 0.2 * 0.85 * len(y) < changed <= 0.2 * len(y)  # ~10% of a permutation lands on its own class
    assert np.array_equal(np.bincount(shuffled), np.bincount(y))  # permuted, not relabelled
    assert np.array_equal(shuffled, regressions.make("label_shuffle", 0.2).labels(y, seed=3))
    assert not np.array_equal(shuffled, regressions.make("label_shuffle", 0.2).labels(y, seed=4))
    assert np.array_equal(regressions.make("healthy").labels(y, 3), y)


def test_each_regression_changes_only_its_own_setting():
    from mnist_mlp.config import TrainConfig

    base = TrainConfig(seed=7)
    assert regressions.make("epochs", 3).config(base) == base.replace(epochs=3)
    assert regressions.make("learning_rate", 0.01).config(base) == base.replace(learning_rate=0.01)
    assert regressions.make("hidden_units", 32).config(base) == base
    assert regressions.make("hidden_units", 32).hidden_units() == (32, 32)
    assert regressions.make("healthy").hidden_units() is None and regressions.make("epochs", 3).hidden_units() is None


def test_smaller_hidden_layer_builds_that_model():
    from mnist_mlp import backends

    backends.select("jax")
    from mnist_mlp.model import build_model

    model = build_model(hidden_units=regressions.make("hidden_units", 16).hidden_units())
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [16, 32, 10]
    assert [layer.units for layer in build_model().layers if hasattr(layer, "units")] == [128, 32, 10]


@pytest.mark.parametrize("text, message", [
    ("label_shuffle=1.5", "label_shuffle: the fraction must be in (0, 1], got 1.5"),
    ("epochs=0", "epochs: must be a whole number of at least 1, got 0"),
    ("epochs=two", "'epochs=two': 'two' is not a whole number"),
    ("learning_rate", "'learning_rate': give strengths, e.g. learning_rate=0.1,0.2"),
    ("dropout=0.5", "regression 'dropout': not one of healthy, label_shuffle, epochs, learning_rate, hidden_units"),
    ("healthy=1", "'healthy=1': healthy takes no strength"),
])
def test_bad_regressions_are_named(text, message):
    with pytest.raises(UsageError) as err:
        regressions.parse(text)
    assert str(err.value) == message


# ---------------------------------------------------------------- detection, judged by the gate


def test_detection_counts_every_subset_and_uses_the_gate(shipped):
    params = params_of(shipped)
    low = [params["mean"] - 0.05] * 10
    healthy = [params["mean"]] * 10
    assert gate_power.detection_rate("jax", low, 3, shipped) == (1.0, 120)
    assert gate_power.detection_rate("jax", healthy, 5, shipped) == (0.0, 252)
    # one seed just below the 1-seed floor: caught in exactly the subsets that hold it
    floor = calibration.seed_floor(params, 1)
    rate, subsets = gate_power.detection_rate("jax", [floor - 1e-4] + healthy[1:], 1, shipped)
    assert (rate, subsets) == (0.1, 10)


def test_detection_follows_the_thresholds_file(shipped):
    """Hand-edit sigma in a copy of the thresholds: the same seeds are judged differently."""
    params = params_of(shipped)
    seeds = [params["mean"] - 0.0085] * 4 + [params["mean"]] * 6
    edited = copy.deepcopy(shipped)
    edited["thresholds"][gate_power.gate_params("jax", shipped)[0]]["sigma"] = params["sigma"] * 2
    assert gate_power.detection_rate("jax", seeds, 1, shipped)[0] == pytest.approx(0.4)
    assert gate_power.detection_rate("jax", seeds, 1, edited)[0] == 0.0


def test_one_seed_model_is_the_normal_cdf(shipped):
    """With one seed the gate fails a draw below the single threshold: P = Phi((T - mu_r) / sigma)."""
    params = params_of(shipped)
    threshold = calibration.mean_threshold(params, 1)
    assert threshold == pytest.approx(calibration.seed_floor(params, 1))
    levels = np.array([threshold + 0.002, threshold, threshold - 0.003])
    expected = norm.cdf((threshold - levels) / params["sigma"])
    got = gate_power.model_detection(levels, params, 1, 0.01)
    assert got == pytest.approx(expected, abs=0.005)
    caught = gate_power.model_caught_mean(params, 1, 0.01)
    assert caught == pytest.approx(threshold - norm.ppf(0.95) * params["sigma"], abs=2e-4)


def test_more_seeds_catch_smaller_drops(shipped):
    params = params_of(shipped)
    caught = [gate_power.model_caught_mean(params, n, 0.01) for n in (1, 3, 5)]
    assert caught[0] < caught[1] < caught[2] < params["mean"]
    # the mean check dominates with several seeds: the 95% level sits ~1.645 sigma/sqrt(n) under it
    for n, level in zip((3, 5), caught[1:]):
        assert level == pytest.approx(calibration.mean_threshold(params, n) - norm.ppf(0.95) * params["sigma"] / math.sqrt(n), abs=5e-4)


def synthetic_study(drops, sd=0.0025, seeds=range(10, 20), seed=0):
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(len(seeds))
    entries = []
    for (kind, strength), drop in drops.items():
        regression = regressions.make(kind, strength)
        values = np.clip(0.976 - drop + sd * noise, 0, 1)
        entries.append({"kind": kind, "strength": strength, "label": regression.label, "what": regression.what,
                        "accuracies": {str(s): float(v) for s, v in zip(seeds, values)}})
    return {"schema": power_study.SCHEMA, "schema_version": power_study.SCHEMA_VERSION, "backend": "jax",
            "device": "cpu", "seeds": list(seeds), "machine": {"host": "test"}, "entries": entries}


def test_analysis_finds_the_smallest_drop_caught(shipped):
    study = synthetic_study({("healthy", None): 0.0, ("epochs", 4): 0.003, ("epochs", 2): 0.012,
                             ("learning_rate", 0.01): 0.03})
    report = gate_power.analyse(study, shipped)
    by_label = {row.label: row for row in report.rows}
    assert by_label["healthy"].drop == 0.0 and by_label["epochs=2"].drop == pytest.approx(0.012)
    assert by_label["learning_rate=0.01"].detection == {1: 1.0, 3: 1.0, 5: 1.0}
    five = next(s for s in report.summaries if s.n == 5)
    assert five.measured_by == "epochs=2" and five.measured_drop_caught == pytest.approx(0.012)
    one = next(s for s in report.summaries if s.n == 1)
    assert one.missed_by == "epochs=4" and one.missed_rate < 0.95 and one.missed_drop == pytest.approx(0.003)
    assert five.false_alarm == by_label["healthy"].detection[5]
    assert [s.n for s in report.summaries] == [1, 3, 5]
    assert report.summaries[0].model_drop_caught > report.summaries[2].model_drop_caught > 0


def test_analysis_needs_a_healthy_control(shipped):
    with pytest.raises(ValueError, match="no healthy control"):
        gate_power.analyse(synthetic_study({("epochs", 2): 0.01}), shipped)


# ---------------------------------------------------------------- the study's runs and files


def fake_runner(values, calls, fail_on=None):
    def runner(command, timeout, log_path):
        label = command[4] + ("" if command[5] == "" else f"={float(command[5]):g}")
        calls.append(label)
        if label == fail_on:
            raise power_study.StudyFailed(f"{label}: the process exited 1; its log: {log_path}")
        seeds = command[6].split(",")
        return {"accuracies": {s: values.get(label, 0.97) for s in seeds}}
    return runner


def test_study_saves_after_each_regression_and_resumes(tmp_path):
    wanted = regressions.parse("healthy") + regressions.parse("epochs=2,4")
    calls: list[str] = []
    with pytest.raises(power_study.StudyFailed):
        power_study.run_study(tmp_path, wanted, [1, 2], "jax", runner=fake_runner({}, calls, fail_on="epochs=4"), say=lambda _: None)
    saved = power_study.load(tmp_path)
    assert [e["label"] for e in saved["entries"]] == ["healthy", "epochs=2"]  # kept through the failure
    calls.clear()
    doc = power_study.run_study(tmp_path, wanted, [1, 2], "jax", runner=fake_runner({}, calls), say=lambda _: None)
    assert calls == ["epochs=4"] and [e["label"] for e in doc["entries"]] == ["healthy", "epochs=2", "epochs=4"]
    with pytest.raises(UsageError, match="a study keeps one backend and one set of seeds"):
        power_study.run_study(tmp_path, wanted, [1, 2, 3], "jax", runner=fake_runner({}, calls), say=lambda _: None)


def test_child_output_is_checked_before_it_is_saved(tmp_path):
    wanted = regressions.parse("healthy") + regressions.parse("epochs=2,2")
    calls: list[str] = []

    def short(command, timeout, log_path):
        calls.append(command[4])
        return {"accuracies": {"1": 0.97}} if command[4] == "epochs" else {"accuracies": {"1": 0.97, "2": 0.96}}

    with pytest.raises(power_study.StudyFailed, match="epochs=2: the process did not return one test accuracy in"):
        power_study.run_study(tmp_path, wanted, [1, 2], "jax", runner=short, say=lambda _: None)
    assert calls == ["healthy", "epochs"]  # epochs=2 asked for twice, trained once
    assert [e["label"] for e in power_study.load(tmp_path)["entries"]] == ["healthy"]


def test_a_study_file_that_lies_is_named(tmp_path):
    study = synthetic_study({("healthy", None): 0.0})
    study["entries"][0]["accuracies"]["10"] = 1.7
    (tmp_path / "accuracies.json").write_text(json.dumps(study))
    with pytest.raises(ResultFileError, match=r"accuracies.json: entries\[0\]: seed 10: test accuracy must be a number in \[0, 1\], got 1.7"):
        power_study.load(tmp_path)
    del study["entries"][0]["accuracies"]["10"]
    (tmp_path / "accuracies.json").write_text(json.dumps(study))
    with pytest.raises(ResultFileError, match=r"entries\[0\] \(healthy\): accuracies must map each of the study's seeds"):
        power_study.load(tmp_path)
    study["entries"][0]["accuracies"]["10"] = 0.97
    study["entries"].append(dict(study["entries"][0]))
    (tmp_path / "accuracies.json").write_text(json.dumps(study))
    with pytest.raises(ResultFileError, match=r"entries\[1\]: healthy is in the study twice"):
        power_study.load(tmp_path)
    study["backend"] = "mxnet"
    (tmp_path / "accuracies.json").write_text(json.dumps(study))
    with pytest.raises(ResultFileError, match="backend must be one of tensorflow, jax, torch, got 'mxnet'"):
        power_study.load(tmp_path)


def test_false_alarms_refuse_runs_without_trained_seeds(tmp_path, capsys):
    run_dir = write_run(tmp_path, make_run([case(status="failed")]), "failed-only")
    assert main(["false-alarms", str(run_dir), "--out", str(tmp_path)]) == EXIT_BAD_INPUT
    assert "no Keras case in them trained a seed" in capsys.readouterr().err
    assert not (tmp_path / "false_alarms.md").exists()
    assert main(["false-alarms", str(tmp_path / "missing")]) == EXIT_BAD_INPUT
    assert "missing" in capsys.readouterr().err


def test_the_child_trains_a_real_regression(tmp_path, data_dir):
    """One seed, one epoch, a smaller hidden layer, through the real child process (JAX)."""
    command = power_study.child_command(regressions.make("epochs", 1), [5], "jax", str(data_dir))
    got = power_study.run_child(command, 600, tmp_path / "child.log")
    assert set(got["accuracies"]) == {"5"} and 0.9 < got["accuracies"]["5"] < 1.0


def test_cli_refuses_bad_input_in_one_line(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path), "--seeds", "3-x", "healthy"]) == EXIT_BAD_INPUT
    assert "--seeds '3-x': give FIRST-LAST or a comma-separated list of whole numbers" in capsys.readouterr().err
    assert main(["run", "--out", str(tmp_path), "epochs=2"]) == EXIT_BAD_INPUT
    assert "add `healthy`" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == EXIT_BAD_INPUT
    assert "accuracies.json: no such file" in capsys.readouterr().err


def test_report_writes_the_table_and_figure(tmp_path, capsys):
    study = synthetic_study({("healthy", None): 0.0, ("hidden_units", 32): 0.008})
    (tmp_path / "accuracies.json").write_text(json.dumps(study))
    assert main(["report", str(tmp_path)]) == 0
    text = (tmp_path / "power.md").read_text()
    assert "| hidden_units | 32" in text and "smallest tested drop caught >= 95%" in text
    assert (tmp_path / "power.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------- false alarms out of sample


def test_false_alarms_counted_per_kind_of_check(tmp_path, shipped):
    params = params_of(shipped)
    good = [params["mean"] + d for d in (0.001, -0.001, 0.0, 0.002, -0.002, 0.0)]
    bad_seed = calibration.seed_floor(params, 3) - 0.001  # below the 1- and 3-seed floors
    runs = [("a", make_run([case(accuracies=tuple(good), walls=(60.0,) * 6, first_seed=10)])),
            ("b", make_run([case(accuracies=(params["mean"], bad_seed, params["mean"]), first_seed=16)]))]
    report = gate_false_alarms.analyse(runs, shipped)
    assert report.seeds["jax-cpu"] == list(range(10, 19)) and report.backends == {"jax-cpu": "jax"}
    assert report.count("1 seed") == (1, 9)
    assert report.count("3 seeds") == (1, 3)  # seeds 16-18 hold the bad one
    assert report.count("5 seeds") == (0, 1)  # seeds 10-14 only; 15-18 do not make five
    assert report.count("run")[1] == 2


def test_false_alarms_judge_what_the_gate_judges(shipped):
    """Devices and variants stay apart, weak scaling is not judged, a diverged seed is a failure
    without breaking the fit or the tables."""
    from mnist_mlp.report.false_alarm_text import false_alarm_markdown

    params = params_of(shipped)
    weak = case(accuracies=(0.5, 0.5, 0.5))
    weak["id"] = "jax-cpu-dp2-weak"
    weak["training"]["data_parallel"] = {"scaling": "weak"}
    gpu = case(device="gpu", accuracies=(params["mean"], None, params["mean"]))
    report = gate_false_alarms.analyse([("a", make_run([case(accuracies=(params["mean"],) * 3), gpu, weak]))], shipped)
    assert set(report.seeds) == {"jax-cpu", "jax-gpu"}
    assert report.count("1 seed") == (1, 6) and report.count("run") == (1, 2)
    assert report.fitted.n == 5
    assert "NaN/missing" in false_alarm_markdown(report, "cmd")


def test_fitted_normal_implies_the_rate_the_thresholds_give(shipped):
    """Unseen seeds centred on the one-seed threshold would fail half the one-seed runs."""
    params = params_of(shipped)
    threshold = calibration.mean_threshold(params, 1)
    spread = np.array([-1.5, -0.5, 0.0, 0.5, 1.5]) * 0.002
    fitted = gate_false_alarms.fit({"jax-cpu": list(threshold + spread)}, {"jax-cpu": "jax"}, shipped, 0.01)
    assert fitted.implied[1] == pytest.approx(0.5, abs=0.01)
    assert fitted.mean == pytest.approx(threshold) and fitted.calibration_n == 16
    assert fitted.welch_p < 0.01  # far below the calibration's mean
    healthy = gate_false_alarms.fit({"jax-cpu": list(params["mean"] + spread)}, {"jax-cpu": "jax"}, shipped, 0.01)
    assert healthy.implied[1] < 0.01 and healthy.welch_p > 0.5


def test_binomial_figures():
    assert gate_false_alarms.upper_bound(0, 30) == pytest.approx(1 - 0.05 ** (1 / 30))
    assert gate_false_alarms.chance_of_at_least(0, 30, 0.01) == 1.0
    assert gate_false_alarms.chance_of_at_least(1, 30, 0.01) == pytest.approx(1 - 0.99 ** 30)


# ---------------------------------------------------------------- the committed figures


def committed_tables(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.skipif(not (POWER_DIR / "accuracies.json").exists(), reason="no committed power study")
def test_committed_power_report_is_what_its_data_give(shipped):
    from mnist_mlp.report.power_text import rows_table, summary_table

    report = gate_power.analyse(power_study.load(POWER_DIR), shipped)
    text = committed_tables(POWER_DIR / "power.md")
    assert summary_table(report) in text and rows_table(report) in text


@pytest.mark.skipif(not (OUT_OF_SAMPLE_DIR / "false_alarms.md").exists(), reason="no committed out-of-sample runs")
def test_committed_false_alarm_report_is_what_its_runs_give(shipped):
    from mnist_mlp.report.false_alarm_text import counts_table, seeds_table

    text = committed_tables(OUT_OF_SAMPLE_DIR / "false_alarms.md")
    runs = re.findall(r"`([0-9]{8}T[0-9]{6}Z_[^`]+|[a-z0-9-]+-seeds-[0-9-]+)`", text.split("Runs:", 1)[1].split(";", 1)[0])
    report = gate_false_alarms.analyse(gate_false_alarms.load_runs([OUT_OF_SAMPLE_DIR / r for r in runs]), shipped)
    assert seeds_table(report) in text and counts_table(report) in text
    calibrated = {"jax": set(range(10)), "tensorflow": set(range(3)), "torch": set(range(3))}
    assert all(not set(seeds) & calibrated[report.backends[group]] for group, seeds in report.seeds.items())


@pytest.mark.skipif(not (POWER_DIR / "accuracies.json").exists() or not OUT_OF_SAMPLE_DIR.exists(),
                    reason="no committed power study or out-of-sample runs")
def test_power_control_repeats_the_harness_seeds_to_the_last_digit(shipped):
    """The power study's healthy control trained seeds 10-19 outside the harness, on the host of
    the out-of-sample JAX run, which trained them inside it: the same training code gives the same
    accuracies, so the control is the healthy workload the gate was checked on."""
    study = power_study.load(POWER_DIR)
    control = next(e for e in study["entries"] if e["kind"] == "healthy")["accuracies"]
    harness = {}
    for run_dir in sorted(p for p in OUT_OF_SAMPLE_DIR.iterdir() if (p / "results.json").exists()):
        verdict = gate.check_run(results.load(run_dir), shipped)
        for group, seeds in gate_false_alarms.seeds_by_group(verdict).values():
            if group.backend == study["backend"]:
                harness.update({str(s): a for s, a in seeds})
    shared = sorted(set(control) & set(harness), key=int)
    assert len(shared) == len(study["seeds"])
    assert [control[s] for s in shared] == [harness[s] for s in shared]
