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
from mnist_mlp.bench import runner
from mnist_mlp.bench.cli import add_commands  # noqa: F401  (the module must import without keras)
from mnist_mlp.bench.profiles import get_profile, with_overrides
from mnist_mlp.config import TrainConfig
from mnist_mlp.errors import EXIT_CASES_FAILED, EXIT_OK, OutputError

from conftest import ROOT

FAKE = Path(__file__).parent / "fixtures" / "fake_bench_child.py"
DATASET = {"sha256": "0" * 64, "source": "test"}


def fake(modes: dict[str, str], default: str = "ok"):
    """A child command running the fake child in the mode given for each case id."""
    def command(case, case_json, raw_json):
        return [sys.executable, str(FAKE), modes.get(case.case_id, default), str(case_json), str(raw_json)]
    return command


def options(tmp_path: Path, backends=("jax", "torch", "numpy"), devices=("cpu",), timeout=60.0):
    profile = with_overrides(get_profile("quick"), timeout=timeout)
    return runner.BenchOptions(
        profile=profile, profile_label="quick", train=TrainConfig(epochs=1),
        backends=tuple(backends), devices=tuple(devices), out=tmp_path / "reports",
    )


def run(tmp_path, modes=None, **kwargs):
    outcome = runner.run_benchmarks(
        options(tmp_path, **kwargs), child_command=fake(modes or {}), peak_gflops=100.0, dataset=DATASET,
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
    assert by_id["jax-gpu"].skip_reason == "no GPU on this machine"
    assert by_id["jax-cpu"].skip_reason is None and by_id["numpy-cpu"].skip_reason is None


def test_numpy_case_only_on_cpu():
    plans = runner.plan_cases(("jax", "numpy"), ("gpu",), gpu_present=lambda: True)
    assert [plan.case_id for plan in plans] == ["jax-gpu"]


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
    assert cases["jax-gpu"]["reason"] == "no GPU on this machine"


def test_unwritable_output_dir_fails_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    opts = options(tmp_path)
    opts.out = blocker / "reports"
    calls = []
    with pytest.raises(OutputError):
        runner.run_benchmarks(opts, child_command=lambda *a: calls.append(a) or [], peak_gflops=1.0, dataset=DATASET)
    assert calls == []


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


def test_cli_ctrl_c_saves_finished_cases_and_exits_130(tmp_path, data_dir):
    """SIGINT while the second case runs: the first is kept, the second is 'interrupted'."""
    script = tmp_path / "child.py"
    script.write_text(
        "import sys, runpy\n"
        "mode = 'sleep' if 'torch' in open(sys.argv[1]).read() else 'ok'\n"
        f"sys.argv = [{str(FAKE)!r}, mode, *sys.argv[1:]]\n"
        f"runpy.run_path({str(FAKE)!r}, run_name='__main__')\n"
    )
    out = tmp_path / "reports"
    scratch = tmp_path / "tmp"  # the runner's work dir lands here, where this test can see it
    scratch.mkdir()
    env = {**os.environ, runner.CHILD_ENV: str(script), "MNIST_DATA_DIR": str(data_dir), "TMPDIR": str(scratch)}
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_mlp", "bench", "--profile", "quick", "--backends", "jax,torch",
         "--devices", "cpu", "--out", str(out)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not list(scratch.glob("mnist-mlp-bench-*/torch-cpu.case.json.started")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the torch case never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    run_dir = next(out.iterdir())
    saved = results.load(run_dir)
    cases = {case["id"]: case for case in saved["cases"]}
    assert saved["status"] == "interrupted"
    assert cases["jax-cpu"]["status"] == "ok"
    assert cases["torch-cpu"]["status"] == "interrupted"
    assert (run_dir / "report.md").is_file()


@pytest.mark.backends
def test_real_quick_run_of_jax_end_to_end(tmp_path, data_dir):
    out = tmp_path / "reports"
    proc = _cli(
        "bench", "--profile", "quick", "--backends", "jax,numpy", "--devices", "cpu",
        "--batch-sizes", "1,256", "--out", str(out), env={"MNIST_DATA_DIR": str(data_dir)}, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    run_dir = next(out.iterdir())
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
    assert jax["agreement"]["max_abs_diff"] < 1e-4
    assert sum(map(sum, jax["confusion_matrix"])) == 10000
    assert cases["numpy-cpu"]["note"] == "weights trained by jax-cpu"
    raw = json.loads((run_dir / "raw" / "jax-cpu.json").read_text())
    assert raw["machine_info"]["backend"] == "jax"
    assert (run_dir / "report.md").is_file() and (run_dir / "throughput.png").is_file()
    assert "report.md" in proc.stdout
