"""The benchmark runner: planning, crashes, timeouts, skips, interrupts, exit codes, one real run.

Fake children (tests/fixtures/fake_bench_child.py) stand in for the pytest-benchmark child, so
the failure paths run in well under a second each without importing a framework. One test runs
the real thing: the quick profile on JAX through the CLI, end to end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnist_mlp import results

from mnist_mlp.gate import check as gate
from mnist_mlp.bench import collect, runner, suite
from mnist_mlp.bench.caseconfig import CaseConfig
from mnist_mlp.cli.bench import add_commands  # noqa: F401  (the module must import without keras)
from mnist_mlp.bench.profiles import get_profile, with_overrides
from mnist_mlp.config import TrainConfig
from mnist_mlp.errors import EXIT_CASES_FAILED, EXIT_GATE_FAILED, EXIT_INTERRUPTED, EXIT_OK, OutputError

from conftest import ROOT

FAKE = Path(__file__).parent / "fixtures" / "fake_bench_child.py"
DATASET = {"sha256": "0" * 64, "source": "test"}


def fake(modes: dict[str, str], default: str = "ok"):
    """A child command running the fake child in the mode given for each case id."""
    def command(case, case_json, raw_json):
        return [sys.executable, str(FAKE), modes.get(case.case_id, default), str(case_json), str(raw_json)]
    return command


def options(tmp_path: Path, backends=("jax", "torch", "numpy"), devices=("cpu",), timeout=60.0, seeds=None):
    profile = with_overrides(get_profile("quick"), timeout=timeout, seeds=seeds)
    return runner.BenchOptions(
        profile=profile, profile_label="quick", train=TrainConfig(epochs=1),
        backends=tuple(backends), devices=tuple(devices), out=tmp_path / "reports",
    )


def run(tmp_path, modes=None, reporter=None, **kwargs):
    outcome = runner.run_benchmarks(
        options(tmp_path, **kwargs), child_command=fake(modes or {}), peak_gflops=100.0, dataset=DATASET,
        reporter=reporter,
    )
    saved = results.load(outcome.run_dir)  # validates
    return outcome, {case["id"]: case for case in saved["cases"]}, saved


# --------------------------------------------------------------------------- planning


def test_plan_skips_missing_backend_and_absent_gpu():
    plans = runner.plan_cases(
        ("tensorflow", "jax", "numpy"), ("cpu", "gpu"),
        installed=lambda name: name != "tensorflow", gpu_present=lambda: False,
    )
    by_id = {plan.case_id: plan for plan in plans}
    assert list(by_id) == ["tensorflow-cpu", "tensorflow-gpu", "jax-cpu", "jax-gpu", "numpy-cpu"]
    assert "not installed" in by_id["tensorflow-cpu"].skip_reason
    assert by_id["jax-gpu"].skip_reason.startswith("no GPU on this machine")
    assert by_id["jax-cpu"].skip_reason is None and by_id["numpy-cpu"].skip_reason is None


def test_numpy_case_only_on_cpu():
    plans = runner.plan_cases(("jax", "numpy"), ("gpu",), gpu_present=lambda: True)
    assert [plan.case_id for plan in plans] == ["jax-gpu"]


def _bench_options(*argv: str):
    import argparse

    from mnist_mlp.cli.bench import options_from_args

    sub = argparse.ArgumentParser().add_subparsers()
    add_commands(sub)
    return options_from_args(sub.choices["bench"].parse_args(list(argv)))


def test_compile_options_become_case_variants(tmp_path):
    opts = _bench_options("--profile", "quick", "--backends", "jax,numpy", "--devices", "cpu", "--implementations", "keras",
                          "--jit-compile", "false,auto", "--steps-per-execution", "1,32")
    assert (opts.train.jit_compile, opts.train.steps_per_execution) == ("auto", 1)  # Keras' default is the base
    assert opts.variants[0] == () and len(opts.variants) == 4 and opts.profile_label == "custom"
    plans = runner.plan_cases(opts.backends, opts.devices, variants=opts.variants)
    assert sorted(plan.case_id for plan in plans) == [
        "jax-cpu", "jax-cpu-jit_false", "jax-cpu-jit_false-spe32", "jax-cpu-spe32", "numpy-cpu"]
    seen = {}

    def command(case, case_json, raw_json):
        seen[case.case_id] = (case.train["jit_compile"], case.train["steps_per_execution"])
        return [sys.executable, str(FAKE), "ok", str(case_json), str(raw_json)]

    opts.out = tmp_path / "reports"
    outcome = runner.run_benchmarks(opts, child_command=command, peak_gflops=100.0, dataset=DATASET)
    assert seen == {"jax-cpu": ("auto", 1), "jax-cpu-spe32": ("auto", 32), "jax-cpu-jit_false": (False, 1),
                    "jax-cpu-jit_false-spe32": (False, 32), "numpy-cpu": ("auto", 1)}
    saved = results.load(outcome.run_dir)
    overrides = {case["id"]: case["compile_overrides"] for case in saved["cases"]}
    assert overrides["jax-cpu"] is None and overrides["jax-cpu-jit_false-spe32"] == {
        "jit_compile": False, "steps_per_execution": 32}
    assert saved["workload"]["train"]["jit_compile"] == "auto"
    assert len(saved["workload"]["compile_variants"]) == 4


def test_single_non_default_compile_option_is_the_base_workload():
    opts = _bench_options("--profile", "quick", "--jit-compile", "false")
    assert opts.train.jit_compile is False and opts.variants == ((),)
    plans = runner.plan_cases(("jax",), ("cpu",), variants=opts.variants)
    assert [plan.case_id for plan in plans] == ["jax-cpu"]


def test_quick_profile_trains_on_a_subset_and_says_so():
    quick = _bench_options("--profile", "quick")
    assert quick.train.train_samples == 5_000 == quick.profile.train_samples and quick.profile_label == "quick"
    assert quick.train.epochs == 2  # the second epoch gives a steady time per step
    full = _bench_options("--profile", "full")
    assert full.train.train_samples is None and full.profile_label == "full"
    # every image asked for is the seed's workload (written as None, as the full profile does), but not quick's
    every = _bench_options("--profile", "quick", "--train-samples", "60000")
    assert every.train.train_samples is None and every.profile_label == "custom"
    fewer = _bench_options("--profile", "full", "--train-samples", "5000")
    assert fewer.train.train_samples == 5000 == fewer.profile.train_samples and fewer.profile_label == "custom"


def test_child_argv_runs_training_before_inference(tmp_path):
    argv = runner.child_argv(tmp_path / "c.json", tmp_path / "r.json", get_profile("quick"), runner.find_benchmarks_dir())
    files = [arg for arg in argv if arg.endswith(".py")]
    assert [Path(f).name for f in files] == ["test_training.py", "test_inference.py"]
    assert f"--benchmark-json={tmp_path / 'r.json'}" in argv


def test_benchmarks_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv(runner.BENCH_DIR_ENV, str(tmp_path))
    assert runner.find_benchmarks_dir() == ROOT / "benchmarks"  # empty override is passed over
    for name in ("conftest.py", *runner.SUITE_FILES):
        (tmp_path / name).write_text("")
    assert runner.find_benchmarks_dir() == tmp_path.resolve()


# --------------------------------------------------------------------------- failure paths


def test_all_ok_exit_0_and_numpy_gets_weights_note(tmp_path):
    outcome, cases, saved = run(tmp_path)
    assert outcome.exit_code == EXIT_OK
    assert saved["status"] == "complete"
    assert [c["status"] for c in cases.values()] == ["ok", "ok", "ok"]
    assert cases["numpy-cpu"]["inference"][0]["path"] == "numpy"
    assert cases["numpy-cpu"]["note"] == "untrained weights"  # the fake children train nothing
    row = cases["jax-cpu"]["inference"][0]
    assert row["samples_per_second"] == pytest.approx(100000.0)
    assert row["percent_of_peak"] == pytest.approx(100 * 209536 * 100000 / 1e9 / 100.0)
    assert (outcome.run_dir / "raw" / "jax-cpu.json").is_file()


def test_crashing_child_fails_only_its_case(tmp_path):
    outcome, cases, saved = run(tmp_path, {"jax-cpu": "crash"})
    assert outcome.exit_code == EXIT_CASES_FAILED
    assert saved["status"] == "partial"
    crashed = cases["jax-cpu"]
    assert crashed["status"] == "failed"
    assert crashed["reason"] == "killed by signal SIGKILL"
    assert "simulated segfault" in crashed["stderr_tail"]
    assert cases["torch-cpu"]["status"] == "ok" and cases["numpy-cpu"]["status"] == "ok"


def test_failing_child_keeps_error_tail(tmp_path):
    outcome, cases, _ = run(tmp_path, {"torch-cpu": "fail"})
    assert outcome.exit_code == EXIT_CASES_FAILED
    assert cases["torch-cpu"]["status"] == "failed"
    assert "pytest exit 1" in cases["torch-cpu"]["reason"]
    assert "simulated failing benchmark" in cases["torch-cpu"]["stderr_tail"]


def test_timeout_stops_the_child_and_moves_on(tmp_path):
    started = time.perf_counter()
    outcome, cases, _ = run(tmp_path, {"jax-cpu": "sleep"}, timeout=1.0)
    assert time.perf_counter() - started < 30  # the 60 s sleeper was stopped
    assert outcome.exit_code == EXIT_CASES_FAILED
    assert cases["jax-cpu"]["status"] == "timeout"
    assert "1 s limit" in cases["jax-cpu"]["reason"]
    assert cases["torch-cpu"]["status"] == "ok"


def test_child_reports_device_absent_as_skip(tmp_path):
    outcome, cases, _ = run(tmp_path, {"jax-cpu": "skip"})
    assert outcome.exit_code == EXIT_OK
    assert cases["jax-cpu"]["status"] == "skipped"
    assert cases["jax-cpu"]["reason"] == "fake: no such device"


def test_missing_backend_skipped_others_run(tmp_path, monkeypatch):
    monkeypatch.setattr(runner.backends, "is_installed", lambda name: name != "torch")
    outcome, cases, _ = run(tmp_path)
    assert outcome.exit_code == EXIT_OK
    assert cases["torch-cpu"]["status"] == "skipped"
    assert "torch is not installed" in cases["torch-cpu"]["reason"]
    assert cases["jax-cpu"]["status"] == "ok"


def test_absent_gpu_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(runner.backends, "gpu_hardware_present", lambda: False)
    outcome, cases, _ = run(tmp_path, backends=("jax",), devices=("cpu", "gpu"))
    assert outcome.exit_code == EXIT_OK
    assert cases["jax-gpu"]["status"] == "skipped"
    assert cases["jax-gpu"]["reason"].startswith("no GPU on this machine")


def test_unwritable_output_dir_fails_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    opts = options(tmp_path)
    opts.out = blocker / "reports"
    calls = []
    with pytest.raises(OutputError):
        runner.run_benchmarks(opts, child_command=lambda *a: calls.append(a) or [], peak_gflops=1.0, dataset=DATASET)
    assert calls == []


# --------------------------------------------------------------------------- training kept after a crash


def test_crash_in_inference_keeps_the_training_from_the_side_file(tmp_path):
    outcome, cases, _ = run(tmp_path, {"jax-cpu": "train-crash"}, backends=("jax", "torch"))
    assert outcome.exit_code == EXIT_CASES_FAILED
    crashed = cases["jax-cpu"]
    assert crashed["status"] == "failed" and crashed["reason"] == "killed by signal SIGKILL"
    assert "inference: about to crash" in crashed["stderr_tail"]
    assert crashed["raw_benchmark_json"] is None  # pytest-benchmark never wrote it
    assert crashed["training"]["test_accuracy"]["mean"] == pytest.approx(0.97)
    assert crashed["training"]["wall_seconds"]["samples"] == [3.5]
    assert crashed["agreement"]["max_abs_diff"] == pytest.approx(1e-7)
    assert crashed["training_agreement"]["max_diff"]["weights"] == pytest.approx(3e-7)
    assert "raw/jax-cpu.training.json" in crashed["note"]
    assert crashed["inference"] == []
    assert (outcome.run_dir / "raw" / "jax-cpu.training.json").is_file()
    assert cases["torch-cpu"]["status"] == "ok" and cases["torch-cpu"]["training"] is None


def test_timeout_in_inference_keeps_the_training_from_the_side_file(tmp_path):
    outcome, cases, _ = run(tmp_path, {"jax-cpu": "train-hang"}, backends=("jax",), timeout=1.0)
    assert outcome.exit_code == EXIT_CASES_FAILED
    hung = cases["jax-cpu"]
    assert hung["status"] == "timeout" and "1 s limit" in hung["reason"]
    assert hung["training"]["per_seed"][0]["test_accuracy"] == pytest.approx(0.97)


def test_side_file_fills_in_only_what_the_raw_json_lacks():
    side = {"machine_info": {"device_name": "cuda:0", "peak": {"before": {"gflops": 5000.0}}},
            "benchmark": {"name": "test_training", "extra_info": {"kind": "training", "per_seed": []}, "stats": {}}}
    merged, recovered = collect.merge_training_side(None, side)
    assert recovered and merged["benchmarks"][0]["name"] == "test_training"
    assert collect.case_peak(merged)["gflops"] == 5000.0
    raw = {"machine_info": {"device_name": "cpu"}, "benchmarks": [{"extra_info": {"kind": "inference"}}]}
    merged, recovered = collect.merge_training_side(raw, side)
    assert recovered and [b["extra_info"]["kind"] for b in merged["benchmarks"]] == ["training", "inference"]
    assert merged["machine_info"]["device_name"] == "cpu"  # the raw JSON's own info wins
    complete = {"benchmarks": [{"extra_info": {"kind": "training", "per_seed": [{"seed": 0}]}}]}
    assert collect.merge_training_side(complete, side) == (complete, False)
    assert collect.merge_training_side(raw, None) == (raw, False)
    assert collect.merge_training_side(raw, {"benchmark": "junk"}) == (raw, False)


def test_suite_writes_the_side_file_atomically_with_nan_tokens(tmp_path):
    target = tmp_path / "raw" / "jax-cpu.training.json"
    case = CaseConfig(case_id="jax-cpu", backend="jax", device="cpu", training_path=str(target))
    bench = {"name": "test_training", "stats": {"data": [1.5]},
             "extra_info": {"kind": "training", "per_seed": [{"seed": 0, "test_accuracy": float("nan")}]}}
    suite.write_training(case, bench, {"device_name": "cpu"})
    assert "NaN" in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left
    merged, recovered = collect.merge_training_side(None, collect.read_raw(target))
    assert recovered
    seed = collect.measurements(merged, 100.0)["training"]["per_seed"][0]
    assert seed["non_finite"] == ["test_accuracy"]
    suite.write_training(CaseConfig(case_id="x", backend="jax", device="cpu"), bench, {})  # no path: no-op


# --------------------------------------------------------------------------- NaN, latency, first epoch


def test_nan_training_is_saved_and_fails_the_gate(tmp_path):
    outcome, cases, saved = run(tmp_path, {"jax-cpu": "nan"}, backends=("jax", "torch"))
    assert outcome.exit_code == EXIT_OK  # every case ran; the gate decides about accuracy
    seed = cases["jax-cpu"]["training"]["per_seed"][0]
    assert seed["test_accuracy"] is None  # NaN is stored as null
    assert seed["non_finite"] == ["test_accuracy", "loss", "val_loss"]
    assert seed["history"]["loss"][1] is None and seed["history"]["val_loss"][1] is None
    json.loads((outcome.run_dir / "results.json").read_text())  # strict JSON (NaN is not)
    in_memory = outcome.run["cases"][0]["training"]["per_seed"][0]  # what the report is drawn from
    assert in_memory["test_accuracy"] is None and in_memory["non_finite"] == seed["non_finite"]
    report = gate.check_run(saved)
    assert not report.passed
    assert any("jax-cpu: seed 0:" in failure and "NaN, infinite or missing values in test_accuracy, loss, val_loss" in failure for failure in report.failures)


def test_latency_keeps_its_own_samples_and_seed0_first_epoch(tmp_path):
    _, cases, _ = run(tmp_path, {"jax-cpu": "ok-train"}, backends=("jax",), seeds=2)
    jax = cases["jax-cpu"]
    latency = jax["latency_ms"]["predict"]
    assert latency["samples_ms"] == pytest.approx([2.0, 3.0, 4.0])
    assert latency["p50"] == 2.0 and latency["rounds"] == 3
    training = jax["training"]
    assert [seed["first_epoch_seconds"] for seed in training["per_seed"]] == [2.0, 3.0]
    assert training["cold"]["first_epoch_seconds"]["samples"] == [2.0]  # the cold start; seed 1 ran with warm caches
    assert training["warm"]["first_epoch_seconds"]["samples"] == [3.0]
    assert training["first_epoch_seconds"]["mean"] == pytest.approx(2.5)


def test_gpu_case_machine_info_describes_the_gpus(monkeypatch):
    from mnist_mlp.bench import machine

    monkeypatch.setattr(machine, "gpus", lambda: [{"name": "NVIDIA H100", "memory_bytes": 80 << 30, "driver": "550.1"}])
    probes = {"before": {"gflops": 50000.0}, "after": {"gflops": 49000.0}}
    gpu = suite.child_machine_info(CaseConfig(case_id="jax-gpu", backend="jax", device="gpu"),
                                   {"name": "cuda:0", "peak": probes, "precision": {"precision": "fp32", "tf32": False}})
    assert gpu["gpu_count"] == 1 and gpu["gpus"][0]["name"] == "NVIDIA H100" and gpu["gpus"][0]["driver"] == "550.1"
    assert gpu["peak"] == probes and gpu["precision"]["tf32"] is False
    cpu = suite.child_machine_info(CaseConfig(case_id="jax-cpu", backend="jax", device="cpu"), {"name": "cpu:0"})
    assert "gpus" not in cpu and cpu["peak"] == {}


# --------------------------------------------------------------------------- Ctrl-C outside a child


class _InterruptingReporter(runner.NullReporter):
    """Raises KeyboardInterrupt (as Ctrl-C would) in one reporter call for one case."""

    def __init__(self, where: str, case_id: str) -> None:
        self.where, self.case_id = where, case_id

    def case_started(self, index, total, plan):
        if self.where == "case_started" and plan.case_id == self.case_id:
            raise KeyboardInterrupt
        super().case_started(index, total, plan)

    def case_finished(self, plan, record):
        if self.where == "case_finished" and plan.case_id == self.case_id:
            raise KeyboardInterrupt
        super().case_finished(plan, record)


def test_ctrl_c_in_case_started_marks_the_run_interrupted(tmp_path):
    outcome, cases, saved = run(tmp_path, reporter=_InterruptingReporter("case_started", "torch-cpu"))
    assert outcome.exit_code == EXIT_INTERRUPTED
    assert saved["status"] == "interrupted"
    assert [cases[c]["status"] for c in ("jax-cpu", "torch-cpu", "numpy-cpu")] == ["ok", "interrupted", "skipped"]


def test_ctrl_c_in_case_finished_keeps_the_finished_case(tmp_path):
    outcome, cases, saved = run(tmp_path, reporter=_InterruptingReporter("case_finished", "jax-cpu"))
    assert outcome.exit_code == EXIT_INTERRUPTED and saved["status"] == "interrupted"
    assert [cases[c]["status"] for c in ("jax-cpu", "torch-cpu", "numpy-cpu")] == ["ok", "skipped", "skipped"]


def test_ctrl_c_in_case_config_marks_the_case_interrupted(tmp_path, monkeypatch):
    from mnist_mlp.bench import case as case_module

    real = case_module._case_config

    def interrupted(plan, *args, **kwargs):
        if plan.case_id == "jax-cpu":
            raise KeyboardInterrupt
        return real(plan, *args, **kwargs)

    monkeypatch.setattr(case_module, "_case_config", interrupted)  # every process starts through bench.case.run_once
    outcome, cases, saved = run(tmp_path)
    assert outcome.exit_code == EXIT_INTERRUPTED and saved["status"] == "interrupted"
    assert cases["jax-cpu"]["status"] == "interrupted"
    assert cases["torch-cpu"]["status"] == "skipped"


def test_sigint_while_saving_finishes_the_save_then_stops(tmp_path, monkeypatch):
    """A real SIGINT during results.save: the save completes, the run ends as interrupted."""
    real = results.save
    calls = []

    def save(run, run_dir):
        if any(case["status"] == "running" for case in run["cases"]):  # the mark before a child starts
            return real(run, run_dir)
        calls.append(run["status"])
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # delivered at once, in the main thread
        return real(run, run_dir)

    monkeypatch.setattr(runner.results, "save", save)
    outcome, cases, saved = run(tmp_path)
    assert outcome.exit_code == EXIT_INTERRUPTED and saved["status"] == "interrupted"
    assert [cases[c]["status"] for c in ("jax-cpu", "torch-cpu", "numpy-cpu")] == ["ok", "skipped", "skipped"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_sigint_during_the_last_save_is_recorded(tmp_path, monkeypatch):
    real = results.save
    calls = []

    def save(run, run_dir):
        if any(case["status"] == "running" for case in run["cases"]):  # the mark before a child starts
            return real(run, run_dir)
        calls.append(run["status"])
        if len(calls) == 3:  # the save after the last case ran
            os.kill(os.getpid(), signal.SIGINT)
        return real(run, run_dir)

    monkeypatch.setattr(runner.results, "save", save)
    outcome, cases, saved = run(tmp_path, backends=("jax", "numpy"))
    assert outcome.exit_code == EXIT_INTERRUPTED and saved["status"] == "interrupted"
    assert [c["status"] for c in cases.values()] == ["ok", "ok"]


# --------------------------------------------------------------------------- through the CLI


def _cli(*args, env=None, **kwargs):
    child_env = {**os.environ, **(env or {})}
    child_env.pop("KERAS_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "mnist_mlp", *args], env=child_env, cwd=ROOT,
                          capture_output=True, text=True, **kwargs)


def test_cli_exit_codes_for_bad_arguments_and_output(tmp_path):
    bad = _cli("bench", "--backends", "mxnet", timeout=60)
    assert bad.returncode == 2 and "mxnet" in bad.stderr
    bad = _cli("bench", "--batch-sizes", "0,32", timeout=60)
    assert bad.returncode == 2 and "--batch-sizes" in bad.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    unwritable = _cli("bench", "--profile", "quick", "--out", str(blocker / "sub"), timeout=60)
    assert unwritable.returncode == 4, unwritable.stderr
    assert unwritable.stderr.count("\n") == 1


def _child_script(tmp_path: Path, modes: dict[str, str], default: str = "ok") -> Path:
    """A $MNIST_MLP_BENCH_CHILD script running the fake child in the mode given per case id."""
    script = tmp_path / "child.py"
    script.write_text(
        "import json, sys, runpy\n"
        f"modes = {modes!r}\n"
        f"mode = modes.get(json.load(open(sys.argv[1]))['case_id'], {default!r})\n"
        f"sys.argv = [{str(FAKE)!r}, mode, *sys.argv[1:]]\n"
        f"runpy.run_path({str(FAKE)!r}, run_name='__main__')\n"
    )
    return script


def _bench_env(script: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, runner.CHILD_ENV: str(script), "MNIST_DATA_DIR": str(data_dir),
           runner.PEAK_ENV: "100", **extra}  # the test hook: no 3 s peak probe in the parent
    env.pop("KERAS_BACKEND", None)
    return env


def _stop_bench_in_second_case(tmp_path, data_dir, sig):
    """Run a quick bench (jax, then a torch child that sleeps) and send ``sig`` once the torch child
    has written its marker (so the parent is inside that case; every wait is generous for a loaded
    machine). Returns (exit code, stderr, the run folder, its cases by id, its status)."""
    script = _child_script(tmp_path, {"torch-cpu": "sleep"})
    out = tmp_path / "reports"
    scratch = tmp_path / "tmp"  # the runner's work dir lands here, where this test can see it
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_mlp", "bench", "--profile", "quick", "--backends", "jax,torch",
         "--devices", "cpu", "--out", str(out)],
        env=_bench_env(script, data_dir, TMPDIR=str(scratch)), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not list(scratch.glob("mnist-mlp-bench-*/torch-cpu.case.json.started")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the torch case never started"
            time.sleep(0.1)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]  # beside it: index.md
    saved = results.load(run_dir)
    return proc.returncode, stderr, run_dir, {case["id"]: case for case in saved["cases"]}, saved["status"]


def test_cli_ctrl_c_saves_finished_cases_and_exits_130(tmp_path, data_dir):
    """SIGINT while the second case runs: the first is kept, the second is 'interrupted'."""
    code, stderr, run_dir, cases, status = _stop_bench_in_second_case(tmp_path, data_dir, signal.SIGINT)
    assert code == 130, stderr
    assert status == "interrupted"
    assert cases["jax-cpu"]["status"] == "ok"
    assert cases["torch-cpu"]["status"] == "interrupted"
    assert (run_dir / "report.md").is_file()
    assert f"mnist-mlp bench --resume {run_dir}" in stderr  # the way on is printed


def test_cli_sigterm_is_handled_as_ctrl_c_and_exits_143(tmp_path, data_dir):
    """A scheduler's SIGTERM while the second case runs: that case is 'interrupted' (naming SIGTERM),
    the first is kept, the reports are written, the resume command is printed, exit 143."""
    code, stderr, run_dir, cases, status = _stop_bench_in_second_case(tmp_path, data_dir, signal.SIGTERM)
    assert code == 143, stderr
    assert status == "interrupted"
    assert cases["jax-cpu"]["status"] == "ok"
    assert cases["torch-cpu"]["status"] == "interrupted" and "SIGTERM" in cases["torch-cpu"]["reason"]
    assert (run_dir / "report.md").is_file()
    assert f"mnist-mlp bench --resume {run_dir}" in stderr and "SIGTERM" in stderr


def test_cli_full_profile_nan_run_is_saved_and_exits_1(tmp_path, data_dir):
    """A diverged (NaN) training: every report is written, the accuracy gate fails, exit 1."""
    script = _child_script(tmp_path, {"jax-cpu": "nan"})
    out = tmp_path / "reports"
    proc = _cli("bench", "--profile", "full", "--backends", "jax,numpy", "--devices", "cpu", "--out", str(out),
                env=_bench_env(script, data_dir), timeout=300)
    assert proc.returncode == EXIT_GATE_FAILED, proc.stdout + proc.stderr[-3000:]
    assert "gate failed" in proc.stderr
    run_dir = next(path for path in out.iterdir() if path.is_dir())
    saved = results.load(run_dir)  # strict JSON, validated
    cases = {case["id"]: case for case in saved["cases"]}
    assert cases["jax-cpu"]["status"] == "ok"
    assert "test_accuracy" in cases["jax-cpu"]["training"]["per_seed"][0]["non_finite"]
    assert saved["gate"]["passed"] is False
    for name in ("report.md", "gate.md", "results.json"):
        assert (run_dir / name).is_file(), name


@pytest.mark.backends
def test_real_quick_run_of_jax_end_to_end(tmp_path, data_dir):
    out = tmp_path / "reports"
    proc = _cli(
        "bench", "--profile", "quick", "--backends", "jax,numpy", "--devices", "cpu", "--implementations", "keras",
        "--batch-sizes", "1,256", "--out", str(out), env={"MNIST_DATA_DIR": str(data_dir)}, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    saved = results.load(run_dir)
    cases = {case["id"]: case for case in saved["cases"]}
    jax = cases["jax-cpu"]
    assert jax["status"] == "ok", jax
    training = jax["training"]
    assert training["per_seed"][0]["history"]["val_accuracy"]
    assert 0.85 < training["test_accuracy"]["mean"] <= 1.0
    assert {(row["path"], row["batch_size"]) for row in jax["inference"]} == {
        ("predict", 1), ("predict", 256), ("direct", 1), ("direct", 256)}
    assert set(jax["latency_ms"]) == {"predict", "direct"}
    assert len(jax["latency_ms"]["direct"]["samples_ms"]) == jax["latency_ms"]["direct"]["rounds"]
    # a sub-millisecond call gets more than the minimum's 10 rounds from the quick profile's budget
    assert jax["latency_ms"]["direct"]["rounds"] > get_profile("quick").latency_rounds
    # every inference figure in the quick profile's passes, each pass's value kept beside the pooled one
    passes = get_profile("quick").passes
    assert passes > 1
    for row in jax["inference"]:
        assert len(row["passes"]["samples_per_second"]) == passes
        assert row["passes"]["best"] == max(row["passes"]["samples_per_second"])
    for latency in jax["latency_ms"].values():
        assert len(latency["passes"]["p50"]) == passes and latency["passes"]["best"] == min(latency["passes"]["p50"])
    # ... and the passes interleaved: all of pass 1's benchmarks, then pass 2's, ... (not five in a row)
    timed = sorted((b["extra_info"] for b in json.loads((run_dir / "raw" / "jax-cpu.json").read_text())["benchmarks"]
                    if b["extra_info"].get("kind") in ("inference", "latency")), key=lambda extra: extra["order"])
    assert [extra["pass_index"] for extra in timed] == sorted(extra["pass_index"] for extra in timed)
    assert len(timed) == passes * (4 + 2)  # 2 paths x 2 batch sizes, 2 latency paths, per pass
    assert training["cold"]["first_epoch_seconds"]["samples"] == [training["per_seed"][0]["first_epoch_seconds"]]
    side = json.loads((run_dir / "raw" / "jax-cpu.training.json").read_text())
    assert side["benchmark"]["extra_info"]["per_seed"][0]["test_accuracy"] == training["per_seed"][0]["test_accuracy"]
    assert side["benchmark"]["stats"]["data"] == training["wall_seconds"]["samples"]
    assert side["benchmark"]["extra_info"]["agreement"] == jax["agreement"]
    assert jax["agreement"]["max_abs_diff"] < 1e-4
    assert "not in this profile" in jax["training_agreement"]["skipped"]  # the smoke run leaves it to the full profile
    assert sum(map(sum, jax["confusion_matrix"])) == 10000
    assert cases["numpy-cpu"]["note"] == "weights trained by jax-cpu"
    raw = json.loads((run_dir / "raw" / "jax-cpu.json").read_text())
    assert raw["machine_info"]["backend"] == "jax"
    assert (run_dir / "report.md").is_file() and (run_dir / "throughput.png").is_file()
    assert "report.md" in proc.stdout
    # the FLOP model as the child derived it from the built layers, and the machine's state beside it
    assert jax["flops"]["train_per_sample"] == 427_904 and jax["flops"]["layers"] == [[784, 128], [128, 32], [32, 10]]
    assert jax["peak"]["before_gflops"] > 0 and jax["peak"]["after_gflops"] > 0
    assert jax["load"]["samples"] >= 2 and isinstance(jax["busy"], bool)
    assert cases["numpy-cpu"]["flops"]["forward_per_sample"] == 209_536


def test_latency_rounds_grow_within_the_budget_and_never_below_the_minimum():
    from mnist_mlp.bench.metrics import latency_round_count

    assert latency_round_count(0.066, 10, 100, 0.3) == 10  # TensorFlow's Keras predict: the minimum
    assert latency_round_count(0.001, 10, 100, 0.3) == 100  # a 1 ms call: the cap
    assert latency_round_count(0.01, 10, 100, 0.3) == 30  # between: what fits in the budget
    assert latency_round_count(0.001, 100) == 100  # no budget (the full profile): exactly the rounds asked
