"""The dashboard's first screen without a browser: families, which run answers, the bars' values,
spreads and order, the open division's time to the target, the gate's verdict, runtimes or none.

``test_dashboard_browser.py`` checks that the page draws the same bars in Chromium.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import pytest

from mnist_mlp.dashboard import collect, verdict
from mnist_mlp.report import dashboard_verdict

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "fixtures" / "compare"))

import runfactory as rf  # noqa: E402

from test_dashboard import QUICK, REFERENCE, copy_fixtures  # noqa: E402


def _loaded(*named):
    return [collect.LoadedRun(name, Path("/nowhere") / name, run) for name, run in named]


def _native(backend: str, implementation: str, ms: float) -> dict:
    case = rf.case(backend)
    case["id"] = f"{backend}-cpu-{implementation}"
    case["compile_overrides"] = {"implementation": implementation}
    case["inference"], case["latency_ms"] = [], {}
    case["training"]["steady_ms_per_step"]["mean"] = ms
    return case


def _runtime(backend: str, p50: float, rate: float) -> dict:
    case = rf.case("jax", sizes=(1, verdict.SERVE_BATCH), accuracies=None)
    case.update(id=f"{backend}-cpu", backend=backend, training=None)
    case["latency_ms"] = {"runtime": rf.latency(p50)}
    for row in case["inference"]:
        row["path"] = "runtime"
    case["inference"][-1]["samples_per_second"] = rate
    return case


def _race(case: dict, seconds: float | None, low: float = 0.0, high: float = 0.0, reached: int = 10) -> dict:
    case = copy.deepcopy(case)
    case["race"] = {"target_accuracy": 0.979, "per_seed": [], "score": {"seconds": seconds, "low": low, "high": high, "reached": reached,
                                                         "seeds": 10, "why": "" if seconds else "8 of 10 seeds missed the target (two or more: no score)"}}
    return case


def test_the_family_rule():
    assert verdict.family(rf.case("tensorflow")) == verdict.family(rf.case("torch")) == "Keras"
    assert verdict.family(_native("jax", "native", 1.0)) == verdict.family(_native("torch", "native-fast", 1.0)) == "native"
    assert verdict.family(rf.case("numpy", accuracies=None)) == "native"  # NumPy's forward pass: no Keras in it
    for backend in sorted(verdict.RUNTIME_BACKENDS):
        assert verdict.family(_runtime(backend, 0.05, 1e6)) == "runtimes"
    unknown = _runtime("tvm", 0.05, 1e6)  # a runtime not named yet: its inference path says so
    assert verdict.family(unknown) == "runtimes"


def test_bars_are_grouped_by_family_sorted_and_carry_their_spread():
    run = rf.make_run([rf.case("torch", walls=(120.0, 121.0, 119.0)), rf.case("jax"), _native("jax", "native", 0.3),
                       _native("torch", "native-fast", 0.2), rf.case("numpy", accuracies=None, seconds_per_batch=0.0005)])
    run["cases"][0]["training"]["steady_ms_per_step"]["mean"] = 3.0
    (found,) = verdict.verdicts(_loaded(("reference/r1", run)))
    step = found.questions[0]
    assert [(b.family, b.case) for b in step.bars] == [
        ("Keras", "jax-cpu"), ("Keras", "torch-cpu"), ("native", "torch-cpu-native-fast"), ("native", "jax-cpu-native")]
    jax = step.bars[0]
    stats = run["cases"][1]["training"]["steady_ms_per_step"]
    assert jax.value == stats["mean"] and jax.minus == jax.plus == stats["stddev"]
    assert jax.text == f"{verdict.fmt(stats['mean'])} ms ±{stats['stddev']:.2g} · 3 seeds"
    assert step.best.case == "torch-cpu-native-fast"
    latency = found.questions[2]
    assert [b.case for b in latency.bars] == ["jax-cpu", "torch-cpu", "numpy-cpu"]  # numpy: the native group
    assert latency.bars[0].value == run["cases"][1]["latency_ms"]["direct"]["p50"] and latency.bars[0].text.endswith("· direct")
    assert found.questions[3].bars == [] and found.questions[3].missing == ["no inference at batch 10,000 measured"]
    assert not any(b.family == "runtimes" for q in found.questions for b in q.bars)  # no runtime case: no group


def test_runtime_cases_join_the_serving_questions_in_their_own_group():
    run = rf.make_run([rf.case("jax", sizes=(1, verdict.SERVE_BATCH)), _runtime("onnxruntime", 0.02, 2e6),
                       _runtime("openvino", 0.03, 3e6)])
    (found,) = verdict.verdicts(_loaded(("r", run)))
    latency, throughput = found.questions[2], found.questions[3]
    assert [(b.family, b.case) for b in latency.bars] == [("Keras", "jax-cpu"), ("runtimes", "onnxruntime-cpu"), ("runtimes", "openvino-cpu")]
    assert [(b.family, b.case) for b in throughput.bars] == [("Keras", "jax-cpu"), ("runtimes", "openvino-cpu"), ("runtimes", "onnxruntime-cpu")]
    assert throughput.best.case == "openvino-cpu" and throughput.bars[1].value == 3e6
    rounds = run["cases"][2]["inference"][-1]["seconds_per_batch"]
    assert throughput.bars[1].minus == pytest.approx(3e6 - verdict.SERVE_BATCH / rounds["max"])
    assert "30 rounds) · runtime" in throughput.bars[1].text
    assert [b.case for b in found.questions[0].bars] == ["jax-cpu"]  # runtimes do not train
    assert [b.case for b in found.questions[4].bars] == ["jax-cpu"]
    figure = dashboard_verdict.figure(throughput)
    bars = [t for t in figure.data if t.type == "bar"]
    assert [t.name for t in bars] == ["Keras", "runtimes"]
    assert [x for t in bars for x in t.x] == dashboard_verdict.plotted(throughput)


def test_one_run_answers_first_and_the_newest_other_fills_in_each_bar_naming_its_run():
    small = rf.make_run([rf.case("jax")], created="2026-11-28T00:00:00Z", run_id="b")
    big = rf.make_run([rf.case("jax", walls=(90.0, 91.0, 92.0)), rf.case("torch")], created="2026-11-27T00:00:00Z")
    newest = rf.make_run([_native("jax", "native", 0.5)], created="2026-11-29T00:00:00Z", run_id="c")
    quick = rf.make_run([_native("torch", "native", 0.1)], workload=rf.workload(profile="quick", epochs=1, seeds=1))
    quick["profile"] = "quick"
    loaded = _loaded(("big", big), ("small", small), ("newest", newest), ("quick", quick))
    assert [e.name for e in verdict.sources(loaded[:3])] == ["big", "newest", "small"]  # most cases, then newest first
    (found,) = verdict.verdicts(loaded)
    step = {b.case: b.run for b in found.questions[0].bars}
    assert step == {"jax-cpu": "big", "torch-cpu": "big", "jax-cpu-native": "newest"}  # never the quick run
    assert found.sources == ["big", "newest"]
    tie = rf.make_run([rf.case("jax"), rf.case("torch")], created="2026-11-30T00:00:00Z")
    assert verdict.sources(_loaded(("reference/old", big), ("new", tie)))[0].name == "reference/old"


def test_the_time_to_the_target_comes_from_the_open_division():
    full = rf.make_run([rf.case("jax")])
    open_run = rf.make_run([_race(rf.case("jax"), 11.2, 10.5, 12.0), _race(_native("numpy", "native", 1.0), 3.08, 2.56, 3.93),
                            _race(rf.case("torch"), None, reached=2)], created="2026-12-03T00:00:00Z")
    open_run["profile"] = "open"
    (found,) = verdict.verdicts(_loaded(("full", full), ("open/o", open_run)))
    target = found.questions[1]
    assert target.title == "Train: time to 97.9%"
    assert [(b.case, b.value, b.run) for b in target.bars] == [("jax-cpu", 11.2, "open/o"), ("numpy-cpu-native", 3.08, "open/o")]
    assert target.bars[1].text == "3.08 s (2.56–3.93) · 10/10 at target"
    assert target.bars[0].minus == pytest.approx(0.7) and target.bars[0].plus == pytest.approx(0.8)
    assert target.missing == ["torch-cpu: no score: 8 of 10 seeds missed the target (two or more: no score) (open/o)"]
    assert [b.run for b in found.questions[0].bars] == ["full"]  # the open run's Keras recipe is not the measured workload


def test_the_gate_verdict_is_the_gates_own():
    from mnist_mlp.gate import calibration
    from mnist_mlp.gate.check import check_run

    bad = rf.case("torch", accuracies=(0.90, 0.91, 0.905))
    run = rf.make_run([rf.case("jax"), bad])
    (found,) = verdict.verdicts(_loaded(("r", run)))
    gate = found.questions[4]
    judged = {g.key: g for g in check_run(run, calibration.load()[0]).groups}
    assert {b.case: (b.value, b.passed) for b in gate.bars} == {k: (g.mean, g.passed) for k, g in judged.items()}
    assert found.gate == "accuracy gate: FAIL: 1 of 2 cases (torch-cpu)"
    assert dashboard_verdict.answer(gate) == "FAIL: torch-cpu"
    assert "FAIL (≥ " in gate.bars[-1].text and gate.bars[0].text.startswith("97.60% ±0.10 · 3 seeds · pass")


def test_a_machine_with_only_quick_runs_is_answered_from_them_without_a_gate(tmp_path):
    found = collect.collect(copy_fixtures(tmp_path))
    quick = [e for e in found.runs if e.name == QUICK]
    (machine,) = verdict.verdicts(quick)
    assert "quick profile" in machine.questions[0].note and machine.questions[0].bars
    assert machine.questions[4].bars == [] and machine.questions[4].missing == ["the gate judges full-profile runs only"]
    assert machine.gate.startswith("accuracy gate: not judged")
    everything = verdict.verdicts(found.runs)
    assert [m.machine.split(" ")[0] for m in everything][0] == "hostA"  # the machine of the newest run first
    assert everything[0].sources == [REFERENCE]  # hostA's full runs: the reference ties the later run, and wins


def test_the_page_leads_with_the_verdict_and_folds_the_dense_tables(tmp_path):
    from mnist_mlp.report.dashboard import write_dashboard

    page = write_dashboard(copy_fixtures(tmp_path), tmp_path / "site" / "dashboard.html").page.read_text(encoding="utf-8")
    body = page.split("<body>", 1)[1]
    order = [body.index(f'<section id="{name}">') for name in ("verdict", "charts", "changes", "scoreboard", "machines", "files")]
    assert order == sorted(order)
    assert body.count('<details class="fold">') == 2 and "<details class=\"fold\" open" not in body
    data = json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S).group(1))
    drawn = [int(i) for i in re.findall(r'class="chart verdict-chart"[^>]*data-chart="(\d+)"', page)]
    assert drawn and max(drawn) == len(data["charts"]) - 1
    assert "&lt;b&gt;Bold&lt;/b&gt; CPU &amp; co" in body.split('<section id="charts">')[0]  # the markup host's name, as text
