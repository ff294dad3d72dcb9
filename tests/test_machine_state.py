"""The machine's state beside every case: load (a fake source, offline), peak probes, the verdicts,
and where they show (results.json, report.md, the terminal, compare); cold and warm apart; the
case timeout rule; a run with nothing trained passes the gate."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from mnist_mlp import compare, results

from mnist_mlp.gate import check as gate
from mnist_mlp.bench import collect, load, runner
from mnist_mlp.bench.case import machine_verdict
from mnist_mlp.bench.profiles import get_profile, with_overrides
from mnist_mlp.bench.progress import TerminalReporter
from mnist_mlp.config import TrainConfig
from mnist_mlp.report.compare_text import comparison_markdown
from mnist_mlp.report.gate_text import gate_markdown
from mnist_mlp.report.render import render_report

FAKE = Path(__file__).parent / "fixtures" / "fake_bench_child.py"
DATASET = {"sha256": "0" * 64, "source": "test"}


class FakeLoad:
    """A machine where other processes take ``outside`` cores and the hypervisor ``steal`` of the CPU.

    Each sample advances a fake clock by one second; this run's own tree takes ``own`` cores.
    """

    def __init__(self, outside: float = 0.0, steal: float = 0.0, own: float = 1.0, cores: int = 2) -> None:
        self.outside, self.steal, self.own, self.cores = outside, steal, own, cores
        self.t = 0.0

    def sample(self) -> load.LoadSample:
        self.t += 1.0
        return load.LoadSample(
            wall=self.t, busy=self.t * (self.own + self.outside), steal=self.t * self.steal * self.cores,
            own=self.t * self.own, cores=self.cores, loadavg1=self.own + self.outside,
        )


def _options(tmp_path, backends=("jax", "numpy"), seeds=None):
    return runner.BenchOptions(
        profile=with_overrides(get_profile("quick"), timeout=60.0, seeds=seeds), profile_label="quick",
        train=TrainConfig(epochs=1), backends=backends, devices=("cpu",), out=tmp_path / "reports",
    )


def _fake(mode="ok-train"):
    return lambda case, case_json, raw_json: [sys.executable, str(FAKE), mode, str(case_json), str(raw_json)]


def _run(tmp_path, source, reporter=None, **kwargs):
    outcome = runner.run_benchmarks(
        _options(tmp_path, **kwargs), child_command=_fake(), peak_gflops=100.0, dataset=DATASET,
        load_source=source, opening_check_s=0.01, reporter=reporter,
    )
    return outcome, results.load(outcome.run_dir)


# --------------------------------------------------------------------------- load


def _samples(source: FakeLoad, n: int) -> list[load.LoadSample]:
    return [source.sample() for _ in range(n)]


def test_summary_counts_only_other_processes_and_steal():
    busy = load.summarize(_samples(FakeLoad(outside=0.5), 5))
    assert busy["outside_cores_mean"] == pytest.approx(0.5) and busy["busy"]
    assert "0.50 cores" in busy["busy_reasons"][0]
    quiet = load.summarize(_samples(FakeLoad(outside=0.0, own=2.0), 5))
    assert quiet["outside_cores_mean"] == 0.0 and not quiet["busy"] and quiet["busy_reasons"] == []
    stolen = load.summarize(_samples(FakeLoad(steal=0.05), 3))
    assert stolen["steal_percent"] == pytest.approx(5.0) and stolen["busy"] and "steal" in stolen["busy_reasons"][0]
    assert load.summarize(_samples(FakeLoad(), 1)) is None  # one sample spans no time


def test_thresholds_are_the_documented_ones():
    just_under = load.summarize(_samples(FakeLoad(outside=0.09), 3))
    just_over = load.summarize(_samples(FakeLoad(outside=0.11), 3))
    assert not just_under["busy"] and just_over["busy"]


def test_busy_machine_marks_every_case_in_results_report_and_terminal(tmp_path):
    stream = io.StringIO()
    outcome, saved = _run(tmp_path, FakeLoad(outside=0.8), reporter=TerminalReporter(stream))
    cases = {case["id"]: case for case in saved["cases"]}
    for case in cases.values():
        assert case["busy"] is True and case["load"]["outside_cores_mean"] == pytest.approx(0.8)
        assert any(flag.startswith("busy:") for flag in case["machine_flags"])
    assert saved["machine_state_at_start"]["busy"] is True
    text = stream.getvalue()
    assert "already busy" in text and "[busy: other processes used 0.80 cores" in text
    render_report(saved, outcome.run_dir)
    report = (outcome.run_dir / "report.md").read_text()
    assert "jax-cpu (busy, peak given)" in report and "## Machine state per case" in report  # the fake child probes no peak


def test_quiet_machine_marks_nothing(tmp_path):
    stream = io.StringIO()
    outcome, saved = _run(tmp_path, FakeLoad(outside=0.0), reporter=TerminalReporter(stream))
    for case in saved["cases"]:
        assert case["busy"] is False and case["machine_flags"] == []
    assert "busy" not in stream.getvalue()
    render_report(saved, outcome.run_dir)
    assert "(busy" not in (outcome.run_dir / "report.md").read_text()


def test_real_psutil_source_samples_this_machine():
    summary = load.measure_for(0.3)
    assert summary is not None and summary["cores"] >= 1 and summary["outside_cores_mean"] >= 0.0


def test_the_opening_check_reads_the_data_meanwhile_and_counts_it_as_the_runs_own(tmp_path):
    """``during`` (bench reads the data there) runs inside the check's seconds: the check waits only
    for what is left of them, and the CPU it burned is the run's own, not the machine's load."""
    import time

    ran, slept = [], []

    def burn() -> None:
        ran.append(1)
        until = time.process_time() + 0.2  # CPU seconds, so the wall time is at least 0.2 s however busy the machine is
        while time.process_time() < until:
            pass

    summary = load.measure_for(0.3, during=burn, sleep=lambda s: slept.append(s) or time.sleep(s))
    assert ran == [1] and len(slept) == 1 and slept[0] <= 0.1 + 1e-9
    assert summary is not None and summary["own_cpu_seconds"] >= 0.15


def test_compare_says_which_values_were_measured_busy(tmp_path):
    _, quiet = _run(tmp_path / "a", FakeLoad())
    _, busy = _run(tmp_path / "b", FakeLoad(outside=0.8))
    paths = [next((tmp_path / name / "reports").iterdir()) for name in ("a", "b")]
    paths = [p for p in paths if p.is_dir()] or paths
    runs = compare.load_runs([p if p.is_dir() else p.parent for p in paths])
    result = compare.compare(runs)
    assert result.machine_flags[runs[1].label]["jax-cpu"] and not result.machine_flags[runs[0].label]
    markdown = comparison_markdown(result)
    assert "[busy]" in markdown and "not clean" in markdown


# --------------------------------------------------------------------------- peaks


def test_peak_probes_before_and_after_judge_the_case(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_PEAKS", "100,80")  # 20% apart: unstable, judged against the higher
    _, saved = _run(tmp_path, None)
    jax = {case["id"]: case for case in saved["cases"]}["jax-cpu"]
    assert jax["peak"]["gflops"] == 100.0 and jax["peak"]["change_percent"] == pytest.approx(20.0)
    assert jax["unstable"] is True and jax["busy"] is False
    row = jax["inference"][0]
    assert row["percent_of_peak"] == pytest.approx(100.0 * row["gflops"] / 100.0)
    assert saved["machine"]["peak_gflops"]["jax-cpu"] == 100.0


def test_close_probes_are_stable(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_PEAKS", "100,95")
    _, saved = _run(tmp_path, None)
    assert all(not case["unstable"] for case in saved["cases"])


def test_failed_probe_is_reported_not_a_crash():
    raw = {"machine_info": {"peak": {"before": {"gflops": None, "error": "RuntimeError: CUDA out of memory"},
                                     "after": {"gflops": 50.0}}}}
    peak = collect.case_peak(raw)
    assert peak["gflops"] == 50.0 and "out of memory" in peak["errors"][0]
    verdict = machine_verdict(peak, None)
    assert any("peak probe failed" in flag for flag in verdict["machine_flags"])


def test_figures_above_the_peak_are_marked(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_PEAKS", "1,1")  # a 1 GFLOP/s "peak": every throughput is above it
    outcome, saved = _run(tmp_path, None)
    render_report(saved, outcome.run_dir)
    report = (outcome.run_dir / "report.md").read_text()
    assert "‼" in report and "above 100% of the peak measured beside the case" in report
    for case in saved["cases"]:
        for row in case["inference"]:
            assert row["percent_of_peak"] > 100.0


# --------------------------------------------------------------------------- cold and warm, timeout


def test_cold_and_warm_seeds_are_reported_apart(tmp_path):
    _, saved = _run(tmp_path, None, backends=("jax",), seeds=3)
    training = saved["cases"][0]["training"]
    assert training["cold"]["seeds"] == [0] and training["warm"]["seeds"] == [1, 2]
    assert training["cold"]["wall_seconds"]["samples"] == [3.5]  # the fake's seed 0
    assert training["warm"]["wall_seconds"]["samples"] == [4.5, 5.5] and training["warm"]["wall_seconds"]["n"] == 2
    assert [s["condition"] for s in training["per_seed"]] == ["cold", "warm", "warm"]


def test_case_timeout_scales_with_seeds_and_epochs():
    full = get_profile("full")
    assert full.case_timeout(1, 25) == 300 + 30 * 25
    assert full.case_timeout(4, 25) == 300 + 30 * 100  # a 4-seed torch run (about 1,330 s here) fits
    assert with_overrides(full, timeout=99.0).case_timeout(4, 25) == 99.0


def test_timeout_message_says_how_to_raise_it(tmp_path):
    outcome = runner.run_benchmarks(
        runner.BenchOptions(profile=with_overrides(get_profile("quick"), timeout=1.0), profile_label="quick",
                            train=TrainConfig(epochs=1), backends=("jax",), devices=("cpu",), out=tmp_path),
        child_command=_fake("sleep"), peak_gflops=1.0, dataset=DATASET,
    )
    reason = outcome.records[0]["reason"]
    assert "1 s limit" in reason and "--timeout SECONDS" in reason and "set by --timeout" in reason


# --------------------------------------------------------------------------- gate


def test_gate_on_a_run_with_nothing_trained_passes_and_says_so(tmp_path):
    outcome, saved = _run(tmp_path, None, backends=("numpy",))
    report = gate.check_run(saved)
    assert report.passed and report.nothing_to_gate
    assert "nothing to gate" in gate_markdown(report)


def test_gate_still_fails_when_a_training_case_produced_nothing(tmp_path):
    outcome = runner.run_benchmarks(
        _options(tmp_path, backends=("jax",)), child_command=_fake("fail"), peak_gflops=1.0, dataset=DATASET,
    )
    report = gate.check_run(results.load(outcome.run_dir))
    assert not report.passed and not report.nothing_to_gate
