"""A peak typed in ($MNIST_MLP_BENCH_PEAK_GFLOPS) is recorded as given, and report and compare mark it."""

from __future__ import annotations

from fixtures.compare.runfactory import case, make_run, write_run
from mnist_mlp import compare
from mnist_mlp.bench import collect, suite
from mnist_mlp.bench.caseconfig import CaseConfig
from mnist_mlp.report import tables
from mnist_mlp.report.compare_text import comparison_markdown


def test_env_peak_is_recorded_as_given(monkeypatch):
    monkeypatch.setenv(suite.PEAK_ENV, "123")
    probe = suite.probe_peak(CaseConfig.__new__(CaseConfig))  # the variable wins before the case is read
    assert probe["gflops"] == 123.0 and suite.PEAK_ENV in probe["given"]
    peak = collect.case_peak({"machine_info": {"peak": {"before": probe, "after": probe}}})
    assert peak["gflops"] == 123.0 and suite.PEAK_ENV in peak["given"]
    measured = collect.case_peak({"machine_info": {"peak": {"before": {"gflops": 100.0}, "after": {"gflops": 98.0}}}})
    assert measured["given"] is None
    assert collect.case_peak(None, fallback=50.0)["given"]  # the run-level fallback is not the case's measurement


def test_report_and_compare_mark_a_given_peak(tmp_path):
    typed = case(seed=2)
    typed["peak"]["given"] = "$MNIST_MLP_BENCH_PEAK_GFLOPS=100: typed in, not measured"
    headers, rows = tables.summary_table(make_run([typed]))
    assert "(peak given)" in rows[0][0]
    a = write_run(tmp_path, make_run([case()]))
    b = write_run(tmp_path, make_run([typed], run_id="b"))
    result = compare.compare(compare.load_runs([a, b]), band=compare.NoiseBand({}))
    assert result.given_peaks["B"] == {"jax-cpu": typed["peak"]["given"]}
    markdown = comparison_markdown(result)
    assert "## Peaks given, not measured" in markdown and "run B, jax-cpu: $MNIST_MLP_BENCH_PEAK_GFLOPS=100" in markdown
    assert "100.0 [given]" in markdown
