"""Shared processes (the quick profile): a framework's cases one after another in one child.

The real group child (``python -m mnist_mlp.bench.group_child``) runs the test hook's fake child
(``$MNIST_MLP_BENCH_CHILD``) in place of pytest, case after case, so the grouping, the records and
what a crash or a timeout in the middle leaves behind are checked without a framework.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mnist_mlp.bench import runner
from mnist_mlp.bench.group import plan_groups
from mnist_mlp.bench.plan import CasePlan
from mnist_mlp.bench.profiles import get_profile

FAKE = Path(__file__).parent / "fixtures" / "fake_bench_child.py"


def _script(tmp_path: Path, modes: dict[str, str]) -> Path:
    script = tmp_path / "child.py"
    script.write_text(
        "import json, sys, runpy\n"
        f"modes = {modes!r}\n"
        "mode = modes.get(json.load(open(sys.argv[1]))['case_id'], 'ok-train')\n"
        f"sys.argv = [{str(FAKE)!r}, mode, *sys.argv[1:]]\n"
        f"runpy.run_path({str(FAKE)!r}, run_name='__main__')\n")
    return script


def _bench(tmp_path: Path, modes: dict[str, str], *extra: str) -> tuple[int, dict, str]:
    env = {**os.environ, runner.CHILD_ENV: str(_script(tmp_path, modes)), runner.PEAK_ENV: "100"}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run(
        [sys.executable, "-m", "mnist_mlp", "bench", "--profile", "quick", "--backends", "jax,torch,numpy",
         "--devices", "cpu", "--implementations", "keras,native,native-fast", "--out", str(tmp_path / "out"), *extra],
        env=env, capture_output=True, text=True, timeout=300)
    (results_json,) = (tmp_path / "out").glob("*/results.json")
    run = json.loads(results_json.read_text())
    return done.returncode, {case["id"]: case for case in run["cases"]}, done.stdout


def test_quick_profile_shares_one_process_per_framework_and_full_does_not():
    assert get_profile("quick").shared_process and not get_profile("full").shared_process
    plans = [CasePlan("jax-cpu", "jax", "cpu"), CasePlan("jax-cpu-native", "jax", "cpu"),
             CasePlan("jax-gpu", "jax", "gpu", skip_reason="no GPU"), CasePlan("torch-cpu", "torch", "cpu")]
    assert [[p.case_id for _, p in unit] for unit in plan_groups(plans, True)] == [
        ["jax-cpu", "jax-cpu-native"], ["jax-gpu"], ["torch-cpu"]]
    assert all(len(unit) == 1 for unit in plan_groups(plans, False))


def test_the_serving_cases_join_tensorflows_process_wherever_they_stand_in_the_plan():
    """Their export needs Keras on TensorFlow: one import of it for the framework and the runtimes;
    the NumPy reference, which serves the weights Keras trained there, joins them; NumPy's native
    trainer joins JAX's, whose Keras hands it its initial weights."""
    plans = [CasePlan("tensorflow-cpu", "tensorflow", "cpu"), CasePlan("jax-cpu", "jax", "cpu"),
             CasePlan("numpy-cpu", "numpy", "cpu"), CasePlan("numpy-cpu-native", "numpy", "cpu", variant=(("implementation", "native"),)),
             CasePlan("onnxruntime-cpu", "onnxruntime", "cpu"), CasePlan("litert-cpu", "litert", "cpu")]
    assert [[p.case_id for _, p in unit] for unit in plan_groups(plans, True)] == [
        ["tensorflow-cpu", "numpy-cpu", "onnxruntime-cpu", "litert-cpu"], ["jax-cpu", "numpy-cpu-native"]]
    assert [index for index, _ in plan_groups(plans, True)[0]] == [1, 3, 5, 6]  # each keeps its place in the plan
    alone = [CasePlan("numpy-cpu", "numpy", "cpu"), CasePlan("numpy-cpu-native", "numpy", "cpu", variant=(("implementation", "native"),))]
    assert [[p.case_id for _, p in unit] for unit in plan_groups(alone, True)] == [["numpy-cpu"], ["numpy-cpu-native"]]


def test_a_serving_case_in_tensorflows_process_serves_the_weights_its_keras_case_trained(tmp_path):
    """The runtimes' cases are configured before the process starts, so they are told the file the
    Keras case of their own process will write; the results stay in plan order."""
    from mnist_mlp import serving

    if not serving.get("onnxruntime").is_installed():
        import pytest

        pytest.skip("onnxruntime is not installed")
    seen = tmp_path / "seen"
    seen.mkdir()
    script = tmp_path / "child.py"
    script.write_text(
        "import json, shutil, sys, runpy\n"
        f"case = json.load(open(sys.argv[1]))\n"
        f"shutil.copy(sys.argv[1], {str(seen)!r} + '/' + case['case_id'] + '.json')\n"
        f"sys.argv = [{str(FAKE)!r}, 'ok', *sys.argv[1:]]\n"
        f"runpy.run_path({str(FAKE)!r}, run_name='__main__')\n")
    env = {**os.environ, runner.CHILD_ENV: str(script), runner.PEAK_ENV: "100"}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run(
        [sys.executable, "-m", "mnist_mlp", "bench", "--profile", "quick", "--backends", "tensorflow,numpy",
         "--devices", "cpu", "--implementations", "keras", "--runtimes", "onnxruntime", "--no-gate",
         "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    configs = {path.stem: json.loads(path.read_text()) for path in seen.glob("*.json")}
    assert configs["onnxruntime-cpu"]["weights_in"] == configs["tensorflow-cpu"]["weights_out"]
    assert configs["onnxruntime-cpu"]["weights_from"] == "tensorflow-cpu"
    (results_json,) = (tmp_path / "out").glob("*/results.json")
    cases = [case["id"] for case in json.loads(results_json.read_text())["cases"]]
    assert cases == ["tensorflow-cpu", "numpy-cpu", "onnxruntime-cpu"]
    record = {case["id"]: case for case in json.loads(results_json.read_text())["cases"]}["onnxruntime-cpu"]
    assert record["process"]["shared_with"] == ["tensorflow-cpu", "numpy-cpu"]
    assert configs["numpy-cpu"]["weights_in"] == configs["tensorflow-cpu"]["weights_out"]  # the reference too


def test_each_case_keeps_its_own_record_and_says_whose_process_it_shared(tmp_path):
    code, cases, out = _bench(tmp_path, {})
    assert code == 0, out[-2000:]
    assert all(case["status"] == "ok" for case in cases.values())
    assert cases["jax-cpu-native"]["process"] == {"shared_with": ["jax-cpu", "jax-cpu-native-fast", "numpy-cpu-native"],
                                                  "position": 2, "cases": 4}
    assert cases["jax-cpu"]["raw_benchmark_json"] == "raw/jax-cpu.json"
    assert cases["jax-cpu-native-fast"]["raw_benchmark_json"] == "raw/jax-cpu-native-fast.json"
    for line in ("jax-cpu: ok", "jax-cpu-native: ok", "jax-cpu-native-fast: ok", "torch-cpu-native: ok"):
        assert line in out


def test_a_crash_in_the_middle_keeps_the_cases_before_it_and_says_why_of_those_after(tmp_path):
    code, cases, _ = _bench(tmp_path, {"jax-cpu-native": "crash"})
    assert code == 3
    assert cases["jax-cpu"]["status"] == "ok" and cases["jax-cpu"]["inference"]
    for case_id in ("jax-cpu-native", "jax-cpu-native-fast"):
        assert cases[case_id]["status"] == "failed"
        assert "the shared process ended (killed by signal SIGKILL) before this case finished" in cases[case_id]["reason"]
    assert all(cases[c]["status"] == "ok" for c in ("torch-cpu", "torch-cpu-native", "torch-cpu-native-fast"))


def test_a_failing_case_does_not_stop_the_next_in_its_process(tmp_path):
    code, cases, _ = _bench(tmp_path, {"torch-cpu-native": "fail"})
    assert code == 3
    assert cases["torch-cpu-native"]["status"] == "failed" and "exit code 1" in cases["torch-cpu-native"]["reason"]
    assert cases["torch-cpu-native-fast"]["status"] == "ok"


def test_a_group_that_hangs_times_out_and_keeps_what_finished(tmp_path):
    code, cases, _ = _bench(tmp_path, {"jax-cpu-native": "sleep"}, "--backends", "jax", "--implementations",
                            "keras,native", "--timeout", "1.5")
    assert code == 3
    assert cases["jax-cpu"]["status"] == "ok" and cases["jax-cpu-native"]["status"] == "timeout"


def test_the_next_case_of_a_shared_process_takes_the_previous_after_probe(monkeypatch):
    """Case k's after-probe and case k+1's before-probe would measure the same moment: one is taken."""
    from mnist_mlp.bench import suite
    from mnist_mlp.bench.caseconfig import CaseConfig

    taken = []
    monkeypatch.setattr(suite, "probe_peak", lambda case: taken.append(case.case_id) or {"gflops": 100.0 + len(taken)})
    monkeypatch.setattr(suite, "_LAST_PROBE", {})
    first, second = CaseConfig("jax-cpu", "jax", "cpu"), CaseConfig("jax-cpu-native", "jax", "cpu")
    other = CaseConfig("torch-cpu", "torch", "cpu")
    assert suite.probe_before(first) == {"gflops": 101.0}
    after = suite.probe_after(first)
    reused = suite.probe_before(second)
    assert reused["gflops"] == after["gflops"] and "previous case's after-probe" in reused["reused"]
    assert suite.probe_before(other)["gflops"] == 103.0  # another framework measures its own
    assert taken == ["jax-cpu", "jax-cpu", "torch-cpu"]


def test_a_serving_case_takes_numpys_recent_probe_it_would_repeat(monkeypatch):
    """The runtimes' probes are NumPy's matmul and tiny op: one after another in a process, one is taken."""
    from mnist_mlp.bench import suite
    from mnist_mlp.bench.caseconfig import CaseConfig

    taken = []
    monkeypatch.setattr(suite, "probe_peak", lambda case: taken.append(case.case_id) or {"gflops": 100.0 + len(taken)})
    monkeypatch.setattr(suite, "_LAST_PROBE", {})
    suite.probe_after(CaseConfig("numpy-cpu", "numpy", "cpu"))
    assert "reused" in suite.probe_before(CaseConfig("onnxruntime-cpu", "onnxruntime", "cpu"))
    assert "reused" not in suite.probe_before(CaseConfig("tensorflow-cpu", "tensorflow", "cpu"))
    assert taken == ["numpy-cpu", "tensorflow-cpu"]


def test_a_shared_process_settles_its_heap_between_cases_not_before_the_first(tmp_path, monkeypatch):
    """Each later case starts with the last one's garbage collected and what survived frozen, so
    no full collection walks the frameworks' heap in its timed phases; pytest's own collections at
    each session's end (about 0.56 s a case) are off in the children's options."""
    import gc

    from mnist_mlp.bench import group_child

    script = tmp_path / "child.py"
    script.write_text("import sys\nsys.exit(0)\n")
    entries = [{"case_json": str(tmp_path / f"{name}.case.json"), "raw_json": str(tmp_path / f"{name}.json")}
               for name in ("first", "second", "third")]
    group_json = tmp_path / "group.json"
    group_json.write_text(json.dumps({"suites": [], "pytest_args": [], "cases": entries}))
    settled = []
    monkeypatch.setenv(group_child.CHILD_ENV, str(script))
    monkeypatch.setattr(group_child, "settle_heap", lambda: settled.append(len(settled)))
    assert group_child.main([str(group_json)]) == 0
    assert settled == [0, 1]  # before the second and the third case only
    assert all(group_child.done_path(entry["case_json"]).is_file() for entry in entries)
    monkeypatch.undo()
    before = gc.get_freeze_count()
    try:
        group_child.settle_heap()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
    suites, options = runner.suite_args(get_profile("quick"), Path("benchmarks"))
    assert {"no:unraisableexception", "no:xdist"} <= set(options)
