"""The accuracy gate's decisions, its thresholds' derivation, and its CLI exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fixtures.compare.runfactory import case, make_run, write_run
from mnist_mlp import results
from mnist_mlp.gate import calibration
from mnist_mlp.gate import check as gate
from mnist_mlp.cli.main import main
from mnist_mlp.errors import ResultFileError

ROOT = Path(__file__).resolve().parent.parent
HEALTHY = (0.9755, 0.9762, 0.9748)


@pytest.fixture(scope="module")
def shipped():
    doc, _ = calibration.load()
    return doc


def test_healthy_run_passes(shipped):
    report = gate.check_run(make_run([case(accuracies=HEALTHY), case("torch", accuracies=(0.977, 0.978, 0.976))]), shipped)
    assert report.passed and not report.failures
    assert all(g.mean_threshold > g.seed_floor for g in report.groups)


def test_compile_variants_are_judged_apart(shipped):
    """A variant that loses accuracy fails alone; its seeds never dilute the default's mean."""
    variant = case(accuracies=(0.960, 0.961, 0.959))
    variant["id"] = "jax-cpu-jit_false"
    report = gate.check_run(make_run([case(accuracies=HEALTHY), variant]), shipped)
    assert [g.key for g in report.groups] == ["jax-cpu", "jax-cpu-jit_false"]
    assert report.groups[0].passed and not report.groups[1].passed
    assert all(f.startswith("jax-cpu-jit_false:") for f in report.failures)


def test_low_mean_fails_though_every_seed_is_above_the_floor(shipped):
    params = shipped["thresholds"]["*"]
    floor, threshold = calibration.seed_floor(params, 3), calibration.mean_threshold(params, 3)
    low = [floor + 0.0005, floor + 0.0010, floor + 0.0015]  # each seed clears the floor ...
    assert sum(low) / 3 < threshold  # ... but their mean does not clear the mean threshold
    report = gate.check_run(make_run([case(accuracies=low)]), shipped)
    group = report.groups[0]
    assert all(s.test_accuracy > group.seed_floor for s in group.seeds)
    assert not report.passed and "mean test accuracy" in report.failures[0]


def test_one_seed_below_floor_fails_though_the_mean_passes(shipped):
    report = gate.check_run(make_run([case(accuracies=(0.979, 0.979, 0.979, 0.979, 0.9600), walls=(60.0,) * 5)]), shipped)
    group = report.groups[0]
    assert group.mean >= group.mean_threshold
    assert not report.passed and any("seed 4" in f and "floor" in f for f in report.failures)


def test_nan_always_fails(shipped):
    report = gate.check_run(make_run([case(accuracies=(0.979, None, 0.979))]), shipped)
    assert not report.passed
    assert any("seed 1" in f and "NaN" in f for f in report.failures)
    nan_loss = make_run([case(accuracies=HEALTHY)])
    nan_loss["cases"][0]["training"]["per_seed"][0]["history"]["loss"][-1] = float("nan")
    assert not gate.check_run(nan_loss, shipped).passed


def test_missing_backend_uses_pooled_or_fails_closed(shipped):
    per_backend = {**shipped, "thresholds": {"jax": shipped["thresholds"]["*"]}}
    report = gate.check_run(make_run([case(accuracies=HEALTHY), case("torch", accuracies=HEALTHY)]), per_backend)
    torch = next(g for g in report.groups if g.backend == "torch")
    assert not report.passed and torch.thresholds_key is None and "no calibrated thresholds" in torch.failures[0]
    with_pool = {**shipped, "calibration": {"jax": {}}, "thresholds": {**per_backend["thresholds"], "*": shipped["thresholds"]["*"]}}
    report = gate.check_run(make_run([case(accuracies=HEALTHY), case("torch", accuracies=HEALTHY)]), with_pool)
    torch = next(g for g in report.groups if g.backend == "torch")
    assert report.passed and torch.thresholds_key == "*" and "no calibration for torch" in torch.notes[0]


def test_run_without_training_fails_and_failed_cases_are_listed(shipped):
    report = gate.check_run(make_run([case(status="failed")]), shipped)
    assert not report.passed and report.failures == ["no training results to check"]
    assert "jax-cpu" in report.not_checked


def test_more_seeds_tighten_the_mean_threshold(shipped):
    params = shipped["thresholds"]["*"]
    means = [calibration.mean_threshold(params, n) for n in (1, 3, 10)]
    assert means == sorted(means) and means[-1] < params["mean"]
    assert calibration.seed_floor(params, 10) < calibration.seed_floor(params, 3)


def false_alarm_rate(mean_threshold, seed_floor, m: int, n: int, groups: int, trials: int = 40_000, seed: int = 0) -> float:
    """Share of healthy runs the gate fails when every trial draws its *own* calibration.

    Each trial: m calibration seeds from a known normal, thresholds derived from their mean and
    stddev by the formulas under test, then a healthy run (``groups`` x ``n`` seeds from the same
    normal) judged by them. Thresholds are mean_hat - c * sd_hat with c from the functions at unit
    scale (the formulas are linear in mean and sigma), so the real code is what is simulated.
    """
    unit = {"mean": 0.0, "sigma": 1.0, "df": m - 1, "m": m}
    c_mean, c_floor = -mean_threshold(unit, n, groups), -seed_floor(unit, n, groups)
    rng = np.random.default_rng(seed)
    mu, sigma = 0.976, 0.0024
    calibration_draws = rng.normal(mu, sigma, size=(trials, m))
    mean_hat, sd_hat = calibration_draws.mean(axis=1), calibration_draws.std(axis=1, ddof=1)
    runs = rng.normal(mu, sigma, size=(trials, groups, n))
    mean_bad = runs.mean(axis=2) < (mean_hat - c_mean * sd_hat)[:, None]
    floor_bad = (runs < (mean_hat - c_floor * sd_hat)[:, None, None]).any(axis=2)
    return float((mean_bad | floor_bad).any(axis=1).mean())


def _binomial_ceiling(trials: int = 40_000, alpha: float = calibration.ALPHA) -> float:
    """The largest failure share a true rate of alpha gives in 99.9% of simulations."""
    from scipy.stats import binom

    return float(binom.ppf(0.999, trials, alpha)) / trials


def _mean_without_estimation_term(params, n, groups=1, alpha=calibration.ALPHA):
    from scipy.stats import t

    return params["mean"] - t.ppf(1 - alpha / (2 * groups), params["df"]) * params["sigma"] * np.sqrt(1 / n)


def _floor_without_estimation_term(params, n, groups=1, alpha=calibration.ALPHA):
    from scipy.stats import t

    return params["mean"] - t.ppf(1 - alpha / (2 * groups * n), params["df"]) * params["sigma"]


def _plain_z_mean(params, n, groups=1, alpha=calibration.ALPHA):
    from scipy.stats import norm

    return params["mean"] - norm.ppf(1 - alpha / (2 * groups)) * params["sigma"] * np.sqrt(1 / n)


def _plain_z_floor(params, n, groups=1, alpha=calibration.ALPHA):
    from scipy.stats import norm

    return params["mean"] - norm.ppf(1 - alpha / (2 * groups * n)) * params["sigma"]


#: (calibration seeds m, seeds per group n, groups G): the committed calibration's m = 16, and a small one
SIMULATED = [(16, 3, 3), (16, 5, 1), (5, 5, 1), (5, 1, 1)]


@pytest.mark.parametrize("m, n, groups", SIMULATED)
def test_healthy_runs_fail_at_most_one_in_a_hundred_with_a_fresh_calibration_each_trial(m, n, groups):
    rate = false_alarm_rate(calibration.mean_threshold, calibration.seed_floor, m, n, groups)
    assert rate <= _binomial_ceiling(), rate


def test_the_false_alarm_simulation_catches_a_formula_without_the_estimation_term():
    """Dropping sqrt(1/m) (the uncertainty of the calibration's own mean) fails the test above;
    a plain z bound fails it everywhere. So the test can fail, and it checks what it claims."""
    ceiling = _binomial_ceiling()
    for m, n, groups in [(16, 5, 1), (5, 5, 1)]:
        rate = false_alarm_rate(_mean_without_estimation_term, _floor_without_estimation_term, m, n, groups)
        assert rate > ceiling, (m, n, groups, rate)
    for m, n, groups in SIMULATED:
        rate = false_alarm_rate(_plain_z_mean, _plain_z_floor, m, n, groups)
        assert rate > ceiling, (m, n, groups, rate)


def test_calibration_pools_indistinguishable_backends_and_splits_distinct_ones():
    same = calibration.calibrate({"jax": [0.975, 0.976, 0.974, 0.977], "torch": [0.976, 0.975, 0.977, 0.974]}, label="t")
    assert not same["decision"]["per_backend"] and set(same["thresholds"]) == {"*"}
    apart = calibration.calibrate({"jax": [0.975, 0.976, 0.974, 0.977], "torch": [0.985, 0.986, 0.984, 0.987]}, label="t")
    assert apart["decision"]["per_backend"] and set(apart["thresholds"]) == {"*", "jax", "torch"}
    assert apart["thresholds"]["jax"]["df"] == 6  # pooled within-backend stddev: N - k
    with pytest.raises(Exception, match="at least 2"):
        calibration.calibrate({"jax": [0.975]}, label="t")


def test_shipped_thresholds_come_from_the_committed_runs_and_the_package_copy_matches():
    """The whole committed thresholds file, recomputed from the committed calibration runs.

    Every field (the accuracies, mean, sigma, df, m, the ANOVA/Bartlett pooling decision, each
    threshold, the printed examples) must equal what ``calibrate`` derives now; only the creation
    time is taken from the file. A hand edit of any number fails here.
    """
    repo = json.loads((ROOT / "reports" / "calibration" / "thresholds.json").read_text())
    packaged = json.loads(calibration.PACKAGED.read_text())
    assert repo == packaged, "copy reports/calibration/thresholds.json to mnist_mlp/thresholds.json"
    assert not repo["provisional"]
    paths = ("reports/calibration/all-backends-3-seeds", "reports/calibration/jax-10-seeds")
    runs = [(str(path), results.load(ROOT / path)) for path in paths]
    accuracies, workload = calibration.accuracies_from_runs(runs)
    assert {backend: len(values) for backend, values in accuracies.items()} == {"jax": 10, "tensorflow": 3, "torch": 3}
    assert repo["sources"] == [f"{path} ({run['run_id']})" for path, (_, run) in zip(paths, runs)]
    recomputed = calibration.calibrate(accuracies, label=repo["label"], provisional=False, sources=repo["sources"],
                                       workload=workload, alpha=repo["alpha"])
    recomputed["created_utc"] = repo["created_utc"]
    assert json.loads(json.dumps(recomputed)) == repo
    assert repo["thresholds"]["*"]["m"] == 16 and repo["decision"]["per_backend"] is False


def test_cli_gate_records_decision_and_exit_codes(tmp_path, capsys):
    healthy = write_run(tmp_path, make_run([case(accuracies=HEALTHY)]), "healthy")
    (healthy / "report.md").write_text("the harness's report\n")
    assert main(["gate", str(healthy)]) == 0
    assert results.load(healthy)["gate"]["passed"] is True
    assert "PASSED" in (healthy / "gate.md").read_text()
    assert (healthy / "report.md").read_text() == "the harness's report\n"

    broken = write_run(tmp_path, make_run([case(accuracies=(0.11, 0.10, 0.12))]), "broken")
    capsys.readouterr()
    assert main(["gate", str(broken)]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "97.90%" in captured.out  # the seed figure
    assert "11.00%" in captured.out and "mean threshold" in captured.out
    assert captured.err.startswith("mnist-mlp: gate failed:")
    recorded = results.load(broken)["gate"]
    assert recorded["passed"] is False and recorded["groups"][0]["mean_threshold"] > 0.96


def test_cli_gate_bad_inputs_exit_2(tmp_path, capsys):
    run = write_run(tmp_path, make_run([case(accuracies=HEALTHY)]), "run")
    assert main(["gate", str(tmp_path / "nowhere")]) == 2
    bad = tmp_path / "t.json"
    bad.write_text('{"schema": "other"}')
    assert main(["gate", str(run), "--thresholds", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "nowhere" in err[0] and "t.json" in err[1]


def test_cli_calibrate_from_runs(tmp_path, capsys):
    # three runs of three different seeds each (the same seed in two runs would count once)
    runs = [write_run(tmp_path, make_run([case(accuracies=(0.975 + i / 1000, 0.976, 0.974), first_seed=3 * i)], run_id=f"r{i}"), f"r{i}")
            for i in range(3)]
    out = tmp_path / "thresholds.json"
    assert main(["calibrate", *map(str, runs), "--write", str(out), "--label", "test"]) == 0
    doc, _ = calibration.load(out)
    assert doc["calibration"]["jax"]["n"] == 9 and doc["workload"]["epochs"] == 25
    assert "mean threshold" in capsys.readouterr().out
    assert main(["gate", str(runs[0]), "--thresholds", str(out)]) == 0


def test_cli_calibrate_writes_where_the_gate_reads_by_default(tmp_path, monkeypatch, capsys):
    """Not relative to the current folder: the checkout's copy (what the gate reads) and the packaged one."""
    repo_copy = tmp_path / "checkout" / "reports" / "calibration" / "thresholds.json"
    repo_copy.parent.mkdir(parents=True)
    packaged = tmp_path / "checkout" / "mnist_mlp" / "thresholds.json"
    packaged.parent.mkdir()
    monkeypatch.setattr(calibration, "REPO_COPY", repo_copy)
    monkeypatch.setattr(calibration, "PACKAGED", packaged)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    runs = [write_run(tmp_path, make_run([case(accuracies=(0.975, 0.976, 0.974), first_seed=3 * i)], run_id=f"r{i}"), f"r{i}")
            for i in range(2)]
    assert main(["calibrate", *map(str, runs), "--label", "test"]) == 0
    capsys.readouterr()
    assert json.loads(repo_copy.read_text()) == json.loads(packaged.read_text())
    assert calibration.default_path() == repo_copy
    assert not list(elsewhere.iterdir())


def test_a_train_field_added_since_the_calibration_is_not_a_workload_difference():
    """The calibration's workload predates ``train_samples``; None there and absent here are the same."""
    thresholds = json.loads((ROOT / "reports" / "calibration" / "thresholds.json").read_text())
    run = make_run([case(accuracies=HEALTHY)])
    run["workload"]["train"] = {**thresholds["workload"], "train_samples": None}
    assert not any("workload differs" in note for note in gate.check_run(run, thresholds).notes)
    run["workload"]["train"] = {**thresholds["workload"], "train_samples": 10_000}
    assert any("train_samples: 10000 vs None" in note for note in gate.check_run(run, thresholds).notes)


def test_gate_names_the_thresholds_file_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert gate.shown_path(ROOT / "reports" / "calibration" / "thresholds.json") == "reports/calibration/thresholds.json"
    assert gate.shown_path(tmp_path / "t.json") == str(tmp_path / "t.json")  # outside: as given


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["thresholds"]["*"].update(sigma=float("nan")), "thresholds['*'] needs finite numbers"),
    (lambda d: d["thresholds"]["*"].update(mean=float("inf")), "thresholds['*'] needs finite numbers"),
    (lambda d: d.update(workload="x"), "'workload' must be an object"),
    (lambda d: d.update(calibration=3), "'calibration' must map each backend"),
    (lambda d: d["calibration"]["jax"].update(accuracies=[0.97, None]), "'calibration' must map each backend"),
])
def test_a_thresholds_file_that_lies_is_refused_in_one_line(tmp_path, shipped, edit, message):
    """A NaN threshold would pass every run (each comparison with NaN is False): refused, as are
    parts of the file the gate and the power study read."""
    doc = json.loads(json.dumps(shipped))
    edit(doc)
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(doc))  # json writes NaN and Infinity, and reads them back
    with pytest.raises(ResultFileError, match=re.escape(message)) as err:
        calibration.load(path)
    assert str(err.value).startswith(f"{path}: ")


def test_calibrate_refuses_an_accuracies_file_that_lies(tmp_path, capsys):
    path = tmp_path / "accuracies.json"
    path.write_text(json.dumps({"accuracies": {"jax": [0.975, 0.977, 0.976]}, "workload": "x"}))
    assert main(["calibrate", "--accuracies", str(path), "--write", str(tmp_path / "t.json")]) == 2
    assert f"{path}: workload must be an object of training settings" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()
    path.write_text(json.dumps({"accuracies": {"jax": [0.975, 0.977, 0.976]}, "workload": {"epochs": 3}}))
    run = ROOT / "reports" / "calibration" / "jax-10-seeds"
    assert main(["calibrate", str(run), "--accuracies", str(path), "--write", str(tmp_path / "t.json")]) == 2
    assert "its workload differs from the runs'" in capsys.readouterr().err
    path.write_text(json.dumps({"accuracies": {"jax": [0.975, 0.977, 0.976]}, "label": "three seeds"}))
    assert main(["calibrate", "--accuracies", str(path), "--write", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["label"] == "three seeds"
