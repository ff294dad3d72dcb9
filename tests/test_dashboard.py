"""The dashboard's data and page without a browser: finding runs, ratios, scores, escaping, bad input.

Fast (no framework, no browser); ``test_dashboard_browser.py`` loads the page in Chromium.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from mnist_mlp import compare
from mnist_mlp.cli.main import main
from mnist_mlp.dashboard import changes, collect, figures, scores
from mnist_mlp.errors import UsageError

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "dashboard" / "reports"
sys.path.insert(0, str(HERE / "fixtures" / "compare"))

import runfactory as rf  # noqa: E402

REFERENCE = "reference/20261127T040000Z_hostA"
LATER = "hostA/20261128T040000Z_hostA"
OLD = "hostA/old/20261126T040000Z_hostA"
#: hostA's quick-profile run (1 epoch on 10,000 images): another workload than the others
QUICK = "hostA/quick/20261129T050000Z_hostA"
#: the run full of markup, moved to a folder whose name is markup too (trace names, ticks, hover)
EVIL = "visitors/<i>bold &amp; <u>run"
BROKEN = "broken/20261129T000000Z_hostA"

@pytest.fixture(autouse=True)
def no_packaged_noise_band(monkeypatch, tmp_path):
    """Judge the fixture runs without the packaged noise band (whatever it holds today): seeds by
    Welch's test, single values not tested, so that these tests do not move with a calibration."""
    from mnist_mlp.compare import noise

    monkeypatch.setattr(noise, "PACKAGED_BAND", tmp_path / "no-noise-band.json")



def copy_fixtures(tmp_path: Path) -> Path:
    """The fixture runs in ``tmp_path/reports``, the markup run's folder renamed to ``EVIL``."""
    target = tmp_path / "reports"
    shutil.copytree(FIXTURES, target)
    (target / "visitors/20261128T050000Z_evil").rename(target / EVIL)
    return target


@pytest.fixture()
def fixture_reports(tmp_path: Path) -> Path:
    return copy_fixtures(tmp_path)


def test_collect_finds_runs_at_any_depth_lists_the_truncated_one_and_keeps_the_old_schema(fixture_reports):
    found = collect.collect(fixture_reports)
    names = [entry.name for entry in found.runs]
    assert names == [OLD, REFERENCE, LATER, EVIL, QUICK]  # oldest first; OLD is three levels deep
    assert list(found.unreadable) == [BROKEN]
    assert "not valid JSON, truncated or damaged" in found.unreadable[BROKEN]
    assert found.runs[found.baseline].name == REFERENCE  # default: the newest run under reference/
    old = found.runs[0]
    assert old.run["schema_version"] == 1
    assert figures.case_figures(old.run["cases"][0])  # an older schema still has figures to show


def test_baseline_by_name_run_id_or_folder_and_a_clear_error_otherwise(fixture_reports):
    assert collect.collect(fixture_reports, baseline=LATER).baseline == 2
    assert collect.collect(fixture_reports, baseline="20261126T040000Z_hostA").baseline == 0
    assert collect.collect(fixture_reports, baseline=fixture_reports / EVIL / "results.json").baseline == 3
    with pytest.raises(UsageError, match="--baseline nope: no such run"):
        collect.collect(fixture_reports, baseline="nope")
    with pytest.raises(UsageError, match="not a folder"):
        collect.collect(fixture_reports / "missing")


def _loaded(*runs):
    return [collect.LoadedRun(f"run{i}", Path(f"/nowhere/run{i}"), run) for i, run in enumerate(runs)]


def _case(backend, scale, peak):
    case = rf.case(backend, walls=tuple(w * scale for w in (60.0, 61.0, 60.5)), seconds_per_batch=0.001 * scale)
    case["peak"] = {"gflops": peak}
    steps = case["training"]["steady_ms_per_step"]
    steps["mean"] *= scale  # the factory's ms/step does not follow the wall times
    return case


def test_ratios_and_geometric_mean_score_in_both_bases():
    base = rf.make_run([_case("jax", 1.0, 100.0), _case("torch", 1.0, 100.0)])
    # jax: every time doubled, every rate halved, on a machine with twice the peak; torch: unchanged
    other = rf.make_run([_case("jax", 2.0, 200.0), _case("torch", 1.0, 100.0)])
    table = scores.table(_loaded(base, other))
    assert table["cases"] == ["jax-cpu", "torch-cpu"]
    jax_ms = table["values"][1]["jax-cpu"]["train.warm_ms_per_step"]
    base_ms = table["values"][0]["jax-cpu"]["train.warm_ms_per_step"]
    assert scores.ratio(jax_ms[0], base_ms[0]) == pytest.approx(2.0)
    assert scores.ratio(jax_ms[1], base_ms[1]) == pytest.approx(4.0)  # per unit of peak: x 2 x 2
    value, shared = scores.score(table, 1, 0)
    assert shared == 2
    assert value == pytest.approx(0.5 ** 0.5, rel=1e-4)  # geomean(jax 0.5, torch 1.0); figures kept to 5 digits
    assert scores.score(table, 1, 0, "per_peak")[0] == pytest.approx(0.25 ** 0.5, rel=1e-4)
    assert scores.score(table, 0, 0) == (pytest.approx(1.0), 2)  # the baseline against itself
    assert scores.score(table, 0, 1)[0] == pytest.approx(2 ** 0.5, rel=1e-4)


def test_score_counts_only_shared_cases_and_leaves_accuracy_out():
    base = rf.make_run([_case("jax", 1.0, 100.0)])
    worse_accuracy = _case("jax", 1.0, 100.0)
    for seed in worse_accuracy["training"]["per_seed"]:
        seed["test_accuracy"] = 0.5
    worse_accuracy["training"]["test_accuracy"] = {"samples": [0.5] * 3, "n": 3, "mean": 0.5}
    other = rf.make_run([worse_accuracy, _case("torch", 3.0, 100.0)])
    table = scores.table(_loaded(base, other))
    assert scores.score(table, 1, 0) == (pytest.approx(1.0), 1)  # torch not shared; accuracy not a speed
    no_peak = rf.make_run([rf.case("jax", peak=None)])
    table = scores.table(_loaded(no_peak, no_peak))
    assert scores.score(table, 1, 0, "per_peak") == (None, 0)  # no peak measured: no per-peak figure


def _quick_workload() -> dict:
    return rf.workload(seeds=1, profile="quick", epochs=1, train_samples=10_000)


def test_a_run_of_another_workload_is_not_scored_against_the_baseline():
    """Issue 23: quick runs (1 epoch on 10,000 images) showed as 8x to 114x "faster" than the
    full-profile reference. Scored only against a baseline of the same workload, whichever it is."""
    full = rf.make_run([_case("jax", 1.0, 100.0), _case("torch", 1.0, 100.0)])
    one_seed = rf.make_run([_case("jax", 1.1, 100.0)], workload=rf.workload(seeds=1))  # the same work, fewer seeds
    quick = rf.make_run([_case("jax", 0.01, 100.0), _case("torch", 0.01, 100.0)], workload=_quick_workload())
    quick_again = rf.make_run([_case("jax", 0.02, 100.0), _case("torch", 0.01, 100.0)], workload=_quick_workload())
    table = scores.table(_loaded(full, one_seed, quick, quick_again))
    assert scores.score(table, 2, 0) == (None, 0)  # not "100x faster"
    why = scores.unscored(table, 2, 0)
    assert why[:2] == ["workload.train.epochs 1 vs 25", "workload.train.train_samples 10000 vs None"]  # compare's own
    assert "workload.profile.name 'quick' vs 'full'" in why
    assert scores.score(table, 0, 2) == (None, 0) and scores.unscored(table, 0, 2)  # nor the other way round
    # the baseline switched to the quick run: the other quick run is scored, the full ones are not
    assert scores.unscored(table, 3, 2) == []
    assert scores.score(table, 3, 2) == (pytest.approx(0.5 ** 0.5, rel=1e-3), 2)
    assert scores.score(table, 1, 2) == (None, 0)
    assert scores.unscored(table, 1, 0) == []  # seeds say how much was measured, not what
    assert scores.score(table, 1, 0) == (pytest.approx(1 / 1.1, rel=1e-3), 1)


def test_the_inference_sweep_profile_and_precision_decide_too_where_both_runs_record_them():
    base = rf.make_run([_case("jax", 1.0, 100.0)])
    sweep = rf.make_run([_case("jax", 1.0, 100.0)], workload=rf.workload(batch_sizes=(1, 128, 1024)))
    assert scores.unscored_reasons(base, sweep) == ["workload.batch_sizes [1, 128, 1024] vs [1, 128]"]
    tf32 = rf.make_run([_case("jax", 1.0, 100.0)])
    base["workload"]["precision"], tf32["workload"]["precision"] = "fp32", "tf32"
    assert scores.unscored_reasons(base, tf32) == ["workload.precision 'tf32' vs 'fp32'"]
    del base["workload"]["precision"]  # an older run that does not record it: not a reason by itself
    assert scores.unscored_reasons(base, tf32) == []
    custom = rf.make_run([_case("jax", 1.0, 100.0)], workload=rf.workload(profile="quick", epochs=25))
    custom["workload"]["train"]["train_samples"] = None  # quick's timing rounds on the full work
    assert scores.unscored_reasons(base, custom) == ["workload.profile.name 'quick' vs 'full'"]


def test_the_page_carries_for_every_baseline_which_runs_it_scores_and_why_not(fixture_reports, tmp_path):
    text = _page(fixture_reports, tmp_path)
    data = json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', text, re.S).group(1))
    names = [run["name"] for run in data["runs"]]
    board = data["board"]
    reference, quick, later, old = (names.index(n) for n in (REFERENCE, QUICK, LATER, OLD))
    assert scores.unscored(board, quick, reference) == [
        "workload.train.epochs 1 vs 25", "workload.train.train_samples 10000 vs None",
        "workload.profile.name 'quick' vs 'full'"]
    assert scores.unscored(board, reference, quick) == [
        "workload.train.epochs 25 vs 1", "workload.train.train_samples None vs 10000",
        "workload.profile.name 'full' vs 'quick'"]
    assert scores.unscored(board, old, reference) == ["schema_version 1 vs 2"]  # compare refuses it too
    assert scores.unscored(board, later, reference) == [] and scores.unscored(board, reference, later) == []
    assert scores.score(board, quick, reference) == (None, 0) and scores.score(board, quick, quick)[0] == pytest.approx(1.0)
    assert data["not_scored"] == "not scored: a different workload than the baseline"


def test_changes_take_the_machine_speed_from_compare_not_a_percent_rule_of_their_own(tmp_path):
    """Issue 23: "Changes" called a peak changed past 10%; compare, past both runs' own probe spread
    and its 5%. The page shows compare's machine verdicts and its sentence of what moved."""
    from mnist_mlp.report.compare_text import movement_sentence
    from mnist_mlp.report.dashboard_text import changes_text

    base = rf.make_run([rf.case("jax", peak=100.0, peak_spread=1.0), rf.case("torch", peak=100.0, peak_spread=20.0)])
    later = rf.make_run([rf.case("jax", peak=93.0, peak_spread=1.0),
                         rf.case("torch", peak=85.0, peak_spread=20.0, accuracies=(0.955, 0.957, 0.956))],
                        run_id="20261128T040000Z_hostA", created="2026-11-28T04:00:00Z")
    folders = [rf.write_run(tmp_path, run) for run in (base, later)]
    (step,) = changes.steps([collect.LoadedRun(f.name, f, run) for f, run in zip(folders, (base, later))])
    comparison = compare.compare(compare.load_runs(folders))
    move = comparison.movements["B"]
    # jax: 7% apart, its probes 1% apart: changed; torch: 15% apart, within its probes' own 20%
    assert move.machine_changed == ["jax-cpu"]
    assert [(p.case, p.before, p.after) for p in step.peaks] == [("jax-cpu", 100.0, 93.0)]
    assert step.movement == move
    judged = {(r.case, r.metric.label, r.verdicts[1].label) for r in comparison.rows if r.verdicts[1] and r.verdicts[1].significant}
    assert judged and {(c.case, c.metric, c.verdict) for c in step.changes} == judged
    text = changes_text([step])
    assert "peak jax-cpu: 100.0 -> 93.0 GFLOP/s (-7.0%)" in text and "peak torch-cpu" not in text
    assert f"    {movement_sentence(move)}" in text.splitlines()


def test_case_figures_of_a_failed_case_are_empty_and_per_peak_keeps_accuracy():
    assert figures.case_figures(rf.case("jax", status="failed")) == {}
    accuracy = figures.Figure("train.test_accuracy", "test accuracy", "accuracy", "%")
    assert figures.per_peak(accuracy, 0.97, None) == 0.97


def test_changes_are_compares_own_verdicts_and_the_peak_change(fixture_reports):
    found = collect.collect(fixture_reports)
    steps = changes.steps(found.runs)
    by_later = {s.later: s for s in steps}
    assert set(by_later) == {REFERENCE, LATER, QUICK}  # hostA's runs after its first; EVIL's machine has one run
    assert by_later[REFERENCE].earlier is None and "schema_version 2 vs 1" in by_later[REFERENCE].why_alone
    assert by_later[QUICK].earlier is None and "workload.train.epochs 1 vs 25" in by_later[QUICK].why_alone
    step = by_later[LATER]
    assert step.earlier == REFERENCE
    comparison = compare.compare(compare.load_runs([fixture_reports / REFERENCE, fixture_reports / LATER]))
    expected = {(r.case, r.metric.label, r.verdicts[1].label) for r in comparison.rows if r.verdicts[1] and r.verdicts[1].significant}
    assert expected and {(c.case, c.metric, c.verdict) for c in step.changes} == expected
    assert ("torch-cpu", "test accuracy", "less accurate") in expected  # compare's own label
    assert [(p.case, round(p.percent)) for p in step.peaks] == [("jax-cpu", -20)]


def _page(fixture_reports: Path, tmp_path: Path) -> str:
    from mnist_mlp.report.dashboard import write_dashboard

    written = write_dashboard(fixture_reports, tmp_path / "site" / "dashboard.html")
    assert written.runs == 5 and list(written.unreadable) == [BROKEN]
    assert written.script.is_file() and written.script.parent == written.page.parent
    return written.page.read_text(encoding="utf-8")


def test_page_escapes_every_text_from_results_json(fixture_reports, tmp_path):
    text = _page(fixture_reports, tmp_path)
    for planted in ("<img src=", "<script>window.__pwned", "<b>Bold</b>", "<i>GPU</i>", "<marquee>", "</pre></td></table>", "<a href='http"):
        assert planted not in text, planted
    assert "&lt;b&gt;Bold&lt;/b&gt; CPU &amp; co" in text  # shown as text in the machines table
    assert "&lt;script&gt;window.__pwned=2&lt;/script&gt;3.15.1" in text
    block = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', text, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block  # nothing in the data can close its block
    data = json.loads(block)
    names = [trace.get("name", "") for chart in data["charts"] for trace in chart["data"]]
    hovers = [t for chart in data["charts"] for trace in chart["data"]
              for t in [trace.get("meta") or ""] + list(trace.get("text") or []) + [str(c) for c in trace.get("customdata") or []]]
    assert any("&lt;b&gt;seed&lt;/b&gt;" in t for t in hovers)  # the seed planted in a results.json, as text
    assert all("<" not in re.sub(r"<br>|<extra></extra>", "", s) for s in names + hovers)
    assert "20261128T050000Z_&lt;i&gt;evil&lt;/i&gt;" in text  # the run id, escaped
    assert any("visitors/&lt;i&gt;bold &amp;amp; &lt;u&gt;run" in name for name in names)  # the folder, for Plotly


def test_page_needs_nothing_from_the_network(fixture_reports, tmp_path):
    text = _page(fixture_reports, tmp_path)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert re.search(r'<script src="plotly-[0-9.]+\.min\.js"></script>', text)
    assert "connect-src 'none'" in text
    assert 'href="../reports/reference/20261127T040000Z_hostA/report.md"' in text  # relative links to each run


def test_cli_writes_the_page_and_names_a_bad_argument(fixture_reports, tmp_path, capsys):
    out = tmp_path / "page" / "index.html"
    assert main(["dashboard", "--reports", str(fixture_reports), "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["runs"] == 5 and BROKEN in payload["unreadable"] and out.is_file()
    assert payload["page_bytes"] == out.stat().st_size
    assert main(["dashboard", "--reports", str(tmp_path / "nope")]) == 2
    assert "--reports" in capsys.readouterr().err
    assert main(["dashboard", "--reports", str(fixture_reports), "--out", str(out), "--baseline", "nope"]) == 2
    assert "--baseline nope" in capsys.readouterr().err


def test_extra_run_folders_join_the_page(fixture_reports, tmp_path):
    extra = tmp_path / "mine"
    shutil.copytree(fixture_reports / LATER, extra / "20261130T000000Z_hostA")
    run = json.loads((extra / "20261130T000000Z_hostA" / "results.json").read_text())
    run["run_id"], run["created_utc"] = "20261130T000000Z_hostA", "2026-11-30T00:00:00Z"
    (extra / "20261130T000000Z_hostA" / "results.json").write_text(json.dumps(run))
    found = collect.collect(fixture_reports / "reference", [extra])
    assert [e.name for e in found.runs] == ["20261127T040000Z_hostA", (extra / "20261130T000000Z_hostA").as_posix()]


def test_bench_refresh_says_so_in_one_line_without_plotly(fixture_reports, monkeypatch):
    from mnist_mlp.cli import dashboard as cli_dashboard

    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly now raises ImportError
    line = cli_dashboard.refresh(fixture_reports)
    assert line == "dashboard not refreshed: plotly is not installed (pip install plotly)"
    assert not (fixture_reports / "dashboard.html").exists()
    monkeypatch.delitem(sys.modules, "plotly")
    line = cli_dashboard.refresh(fixture_reports)
    assert line.startswith("dashboard: wrote ") and (fixture_reports / "dashboard.html").is_file()


def test_bench_rewrites_the_dashboard_at_the_end_of_a_run(tmp_path, mnist, capsys, monkeypatch):
    from mnist_mlp.bench import runner
    from test_resume import FAKE, first_run

    run_dir = first_run(tmp_path, {"torch-cpu": "fail"}, dataset={"sha256": mnist.sha256, "source": mnist.source}).run_dir
    script = tmp_path / "child.py"  # the fake pytest-benchmark child, every case ok
    script.write_text(f"import runpy, sys\nsys.argv[1:1] = ['ok']\nrunpy.run_path({str(FAKE)!r}, run_name='__main__')\n")
    monkeypatch.setenv(runner.CHILD_ENV, str(script))
    assert main(["bench", "--resume", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^dashboard: wrote .*dashboard\.html .*: 1 runs, in ", out, re.M), out
    page = (tmp_path / "reports" / "dashboard.html").read_text(encoding="utf-8")
    assert run_dir.name in page and "plotly-" in page


def test_a_reports_folder_without_runs_still_gives_a_page(tmp_path):
    from mnist_mlp.report.dashboard import write_dashboard

    (tmp_path / "reports").mkdir()
    written = write_dashboard(tmp_path / "reports")
    assert written.runs == 0 and written.page == tmp_path / "reports" / "dashboard.html"
    text = written.page.read_text(encoding="utf-8")
    assert "No runs yet" in text and "No machine has two runs yet." in text


def test_an_open_run_charts_each_seeds_time_to_the_target(tmp_path):
    """An open-division run has no training or inference figures: its chart is the race's seeds,
    those that reached the target only; a page without any figure says it has no charts."""
    from mnist_mlp.report.dashboard import write_dashboard

    case = rf.case("jax", "cpu", accuracies=None)
    case["inference"], case["latency_ms"] = [], {}
    case["race"] = {"target_accuracy": 0.979, "score": {"seconds": 2.1, "reached": 2, "seeds": 3},
                    "per_seed": [{"seed": 0, "reached": True, "seconds": 2.25}, {"seed": 1, "reached": False, "seconds": 9.0},
                                 {"seed": 2, "reached": True, "seconds": 1.95}]}
    reports = tmp_path / "reports"
    rf.write_run(reports, rf.make_run([case], run_id="open1"), "open1")
    text = write_dashboard(reports, tmp_path / "page.html").page.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', text, re.S).group(1))
    race = [chart for chart in data["charts"] if "Time to the target per seed" in json.dumps(chart["layout"].get("title"))]
    assert len(race) == 1 and 'id="chart-race-time"' in text
    (trace,) = race[0]["data"]
    assert trace["y"] == [2.25, 1.95] and trace["name"] == "jax-cpu"  # the seed that missed has no time to the target
    assert trace["customdata"] == [0, 2] and "s to target: %{y:.2f}" in trace["hovertemplate"]
    assert "No charts" not in text

    case["race"]["per_seed"] = [{"seed": 0, "reached": False, "seconds": 9.0}]
    case["race"]["score"] = {"seconds": None, "reached": 0, "seeds": 1, "why": "1 seed(s): the olympic mean needs at least 3"}
    rf.write_run(reports, rf.make_run([case], run_id="open1"), "open1")
    text = write_dashboard(reports, tmp_path / "page.html").page.read_text(encoding="utf-8")
    assert "No charts: no run here has a finished case" in text and "Hover a point for its run" not in text


def test_curves_are_drawn_for_the_newest_full_runs_and_the_baseline_only():
    """The curves charts keep the page bounded as runs are committed: of the runs on the whole
    training set the newest few, plus the baseline however old; a smoke run never."""
    from mnist_mlp.dashboard import collect as dcollect, series

    def loaded(name: str, day: int, smoke: bool = False) -> "dcollect.LoadedRun":
        run = rf.make_run([rf.case()], run_id=name, created=f"2026-03-{day:02d}T00:00:00Z")
        if smoke:
            run["workload"]["train"]["train_samples"] = 5000
        return dcollect.LoadedRun(name, Path(name), run)

    runs = [loaded(f"full{d}", d) for d in range(1, 7)] + [loaded("smoke", 9, smoke=True), loaded("open", 10)]
    for run in runs[:-1]:
        run.run["cases"][0]["training"]["per_seed"][0]["history"] = {"loss": [0.5, 0.4]}
    runs[-1].run["cases"][0]["training"] = None  # an open run: every image, but no curves to take a slot
    assert series.curve_runs(runs, newest=4) == ["full3", "full4", "full5", "full6"]
    assert series.curve_runs(runs, baseline=0, newest=4) == ["full1", "full3", "full4", "full5", "full6"]
    assert series.curve_runs(runs, baseline=6, newest=2) == ["full5", "full6"]  # a smoke baseline draws none
    # every seed of every run picked, and nothing of the others
    assert {p["run"] for p in series.curves(runs, baseline=0, newest=4)} == {"full1", "full3", "full4", "full5", "full6"}


def test_odd_but_valid_fields_are_shown_not_fatal(fixture_reports, tmp_path):
    """results.json files come from other machines: fields of unexpected types still give a page."""
    from mnist_mlp.report.dashboard import write_dashboard

    path = fixture_reports / LATER / "results.json"
    run = json.loads(path.read_text())
    run["machine"]["host"] = ["hostA", {"<b>": 1}]
    run["machine"]["cpu"]["logical_cores"] = "many"
    run["software"]["jax"] = {"<b>nested</b>": "0.4"}
    run["workload"]["seeds"] = "all of them"
    run["tool"] = "not an object"
    case = run["cases"][0]
    case["peak"] = "fast"
    case["machine_flags"] = ["busy<script>window.__pwned=4</script>"]
    case["training"]["per_seed"][0]["history"] = {"loss": ["x", None, {"a": 1}], "accuracy": "high"}
    case["training"]["warm"] = ["not", "stats"]
    path.write_text(json.dumps(run))
    written = write_dashboard(fixture_reports, tmp_path / "page.html")
    text = written.page.read_text(encoding="utf-8")
    assert written.runs == 5 and "<b>nested</b>" not in text and "window.__pwned=4</script>" not in text
    assert "&lt;b&gt;nested&lt;/b&gt;" in text


def test_the_page_of_the_committed_runs_stays_under_a_megabyte(tmp_path):
    """The issue's size budget: the page's own HTML, data and script for the committed runs < 1 MB."""
    from mnist_mlp.report.dashboard import write_dashboard

    written = write_dashboard(HERE.parent / "reports", tmp_path / "dashboard.html")
    assert written.runs >= 8 and not written.unreadable
    assert written.page_bytes < 1_000_000, f"{written.page_bytes:,} bytes"
    assert written.script_bytes > 1_000_000  # plotly.js, beside the page, not inside it


def test_machine_row_status_and_flags_of_a_run():
    run = rf.make_run([rf.case("jax"), rf.case("torch", status="failed")])
    run["cases"][0].update(busy=True, machine_flags=["unstable: probes 13% apart"])
    run["gate"] = {"passed": False}
    assert figures.gate_word(run) == ", gate FAIL"
    assert figures.case_flags(run) == ["jax-cpu: busy, unstable"]
    assert figures.case_statuses(run) == ["ok: jax-cpu", "failed: torch-cpu (boom)"]
    row = figures.machine_row(run)
    assert list(row)[:4] == ["host", "CPU model", "cores (logical/physical)", "memory"]
    assert row["cores (logical/physical)"] == "2/2" and row["memory"] == "8.0 GiB" and row["seeds"] == "0, 1, 2"
    assert row["accelerator"] == "none" and row["count"] == "0"


def test_the_sides_of_an_ab_session_are_not_a_machine_history(tmp_path):
    """Side B of an A/B session may be deliberately slowed: in the time-ordered runs of one machine it
    would read as a change. Its ab.md judges it; the dashboard leaves it out and says which."""
    from mnist_mlp.dashboard.collect import collect

    reports = tmp_path / "reports"
    plain = rf.make_run([rf.case()])
    rf.write_run(reports, plain)
    side = rf.make_run([rf.case()], run_id="ab-x_B")
    side["ab"] = {"side": "B", "command": "python", "session": "ab-x"}
    rf.write_run(reports / "ab-x", side, name="B")
    found = collect(reports)
    assert [entry.run["run_id"] for entry in found.runs] == [plain["run_id"]]
    assert found.ab_sides == ["ab-x/B"]
    shown = collect(reports, extra=[reports / "ab-x" / "B"])  # named on purpose: shown like any run
    assert len(shown.runs) == 2
