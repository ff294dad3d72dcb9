"""``mnist-mlp ab``: both sides alternately (ABBA), each figure judged on its pairs' ratios.

Fake children (tests/fixtures/fake_bench_child.py) stand in for the benchmark child; a side made
slower is a real side command, ``env FAKE_SCALE=2 python``, as a user would write
``env VAR=... python``. Each fake process draws its own wander (``FAKE_JITTER``), so the pairs vary.
"""

from __future__ import annotations

import json
import math
import statistics
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_mlp.bench import ab, runner
from mnist_mlp.bench.sides import describe_side
from mnist_mlp.compare.measures import Metric
from mnist_mlp.compare.paired import PairedRow, _test, judge_pairs
from mnist_mlp.errors import UsageError

FAKE = Path(__file__).parent / "fixtures" / "fake_bench_child.py"


def _script(tmp_path: Path) -> Path:
    """A $MNIST_MLP_BENCH_CHILD script: the fake child in mode ok-train for every case."""
    script = tmp_path / "child.py"
    script.write_text("import sys, runpy\n"
                      f"sys.argv = [{str(FAKE)!r}, 'ok-train', *sys.argv[1:]]\n"
                      f"runpy.run_path({str(FAKE)!r}, run_name='__main__')\n")
    return script


def _ab(tmp_path: Path, b_scale: str, *extra: str, pairs: int = 3, implementations: str = "keras") -> subprocess.CompletedProcess:
    env = {**os.environ, runner.CHILD_ENV: str(_script(tmp_path)), runner.PEAK_ENV: "100", "FAKE_JITTER": "0.03"}
    env.pop("KERAS_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-m", "mnist_mlp", "ab", "--a", sys.executable, "--b", f"env FAKE_SCALE={b_scale} {sys.executable}",
         "--pairs", str(pairs), "--profile", "quick", "--backends", "jax,torch", "--devices", "cpu",
         "--implementations", implementations, "--out", str(tmp_path / "out"), *extra],
        env=env, capture_output=True, text=True, timeout=300)


def _session(tmp_path: Path) -> tuple[dict, Path]:
    (folder,) = (tmp_path / "out").glob("ab-*")
    return json.loads((folder / "ab.json").read_text()), folder


def test_a_against_itself_flags_nothing_and_passes_the_gate(tmp_path):
    done = _ab(tmp_path, "1", "--fail-if-slower", "10")
    assert done.returncode == 0, done.stderr[-2000:]
    session, folder = _session(tmp_path)
    verdicts = {row["verdict"] for row in session["rows"]}
    assert verdicts <= {"within noise"} and session["slowdowns"] == []
    assert all(len(row["a"]) == 3 == len(row["b"]) for row in session["rows"])
    assert (folder / "A" / "results.json").is_file() and (folder / "B" / "results.json").is_file()
    assert "no confirmed slowdown" in (folder / "ab.md").read_text()


def test_a_2x_slower_side_is_flagged_and_fails_the_gate(tmp_path):
    done = _ab(tmp_path, "2", "--fail-if-slower", "10", implementations="keras,native")  # a shared process per framework
    assert done.returncode == 1, done.stderr[-2000:]
    session, folder = _session(tmp_path)
    timed = [row for row in session["rows"] if row["unit"] in ("s", "ms", "/s")]
    assert timed and all(row["verdict"] == "slower" for row in timed)
    assert all(row["ratio"] == pytest.approx(2.0, rel=0.1) or row["ratio"] == pytest.approx(0.5, rel=0.1) for row in timed)
    assert session["slowdowns"] and "slower on B" in done.stdout
    b_run = json.loads((folder / "B" / "results.json").read_text())
    assert b_run["ab"]["side"] == "B" and "FAKE_SCALE=2" in b_run["ab"]["command"]
    assert {row["case"] for row in session["rows"]} == {"jax-cpu", "jax-cpu-native", "torch-cpu", "torch-cpu-native"}
    native = next(c for c in b_run["cases"] if c["id"] == "jax-cpu-native")
    assert native["process"]["shared_with"] == ["jax-cpu"] and len(native["repeats"]) == 3


def test_pairs_alternate_which_side_runs_first(tmp_path):
    _ab(tmp_path, "1", pairs=3)
    _, folder = _session(tmp_path)
    runs = {side: json.loads((folder / side / "results.json").read_text()) for side in "AB"}
    starts = {side: [entry["started_utc"] for entry in next(c for c in runs[side]["cases"] if c["id"] == "jax-cpu")["repeats"]]
              for side in "AB"}
    assert starts["A"][0] <= starts["B"][0] and starts["B"][1] <= starts["A"][1] and starts["A"][2] <= starts["B"][2]
    assert ab.pair_order(1, ["A", "B"]) == ["A", "B"] and ab.pair_order(2, ["A", "B"]) == ["B", "A"]


def test_paired_test_by_hand_and_not_an_unpaired_one():
    """Pairs that drift together (the machine slowed mid-session) are judged on their ratios: the
    paired test sees B 10% slower in every pair; an unpaired test on the same values would not."""
    from scipy import stats

    a = [1.0, 1.5, 2.0, 2.5, 3.0]
    b = [v * 1.10 * f for v, f in zip(a, (1.01, 0.99, 1.0, 1.02, 0.98))]
    row = PairedRow("c", Metric("m", "m", "time", "s"), a, b)
    _test(row)
    logs = [math.log(y / x) for x, y in zip(a, b)]
    assert row.p_value == pytest.approx(stats.ttest_rel([math.log(v) for v in b], [math.log(v) for v in a]).pvalue)
    assert row.p_value == pytest.approx(stats.ttest_1samp(logs, 0.0).pvalue) and row.p_value < 0.001
    assert stats.ttest_ind([math.log(v) for v in b], [math.log(v) for v in a]).pvalue > 0.3
    assert row.low < row.ratio < row.high and row.ratio == pytest.approx(math.exp(sum(logs) / 5))


def _run_of(ratios_per_case: list[list[float]]) -> dict:
    """A side's run whose case k serves ``100 x ratio`` samples/s at batch 1 in each pair."""
    def entry(pair: int, ratio: float) -> dict:
        return {"repeat": pair, "status": "ok", "inference": [
            {"path": "direct", "batch_size": 1, "samples_per_second": 100.0 * ratio, "seconds_per_batch": {"samples": []}}]}
    return {"cases": [{"id": f"c{k}", "status": "ok", "repeats": [entry(i + 1, r) for i, r in enumerate(ratios)]}
                      for k, ratios in enumerate(ratios_per_case)]}


def test_a_figure_measured_in_passes_is_judged_on_each_process_best_pass():
    """B's best pass is 2x slower than A's in every pair, while a slow window hit one pass of one
    side or the other (the pooled values, what the report shows, swing both ways): the paired
    judgment on the best passes finds B 2x slower; the pooled values would not."""
    drift = (1.0, 1.02, 0.98, 1.01, 0.99)  # the machine's speed in each pair, about alike on both sides

    def run(best: float, pooled: list[float], jitter: tuple[float, ...] = (1.0,) * 5) -> dict:
        def entry(pair: int, value: float) -> dict:
            top = best * drift[pair - 1] * jitter[pair - 1]
            passes = [top * 0.4, top * 0.95, top, top * 0.5, top * 0.9]  # a rate: the highest is the best
            return {"repeat": pair, "status": "ok", "inference": [
                {"path": "direct", "batch_size": 1, "samples_per_second": value, "seconds_per_batch": {"samples": []},
                 "passes": {"samples_per_second": passes, "best": max(passes)}}]}
        return {"cases": [{"id": "c", "status": "ok", "repeats": [entry(i + 1, v) for i, v in enumerate(pooled)]}]}

    jitter = (1.01, 0.99, 1.0, 1.02, 0.98)
    judged = judge_pairs(run(100.0, [300.0, 90.0, 280.0, 95.0, 310.0]),
                         run(50.0, [140.0, 160.0, 45.0, 150.0, 48.0], jitter))
    (row,) = judged.rows
    assert row.a == pytest.approx([100.0 * d for d in drift])
    assert row.b == pytest.approx([50.0 * d * j for d, j in zip(drift, jitter)])
    assert row.label == "slower" and row.ratio == pytest.approx(0.5, rel=0.01)
    pooled = [math.log(b / a) for a, b in zip([300.0, 90.0, 280.0, 95.0, 310.0], [140.0, 160.0, 45.0, 150.0, 48.0])]
    from scipy import stats

    assert stats.ttest_1samp(pooled, 0.0).pvalue > 0.2  # what judging the pooled values would have said


def test_the_correction_is_applied_over_all_rows():
    """Twenty figures 10% slower with raw p between 0.01 and 0.04, twenty unchanged: each of the
    twenty counts on its own, none after Benjamini-Hochberg over the forty (their q is 0.08 or more)."""
    from scipy import stats

    steps = (-1.5, -0.5, 0.5, 1.5)
    slowed = []
    for t in [3.4 + 0.15 * i for i in range(20)]:  # t(3) from 3.4 to 6.3: p about 0.04 to 0.008
        spread = 2 * 0.1 / t / statistics.stdev(steps)
        slowed.append([math.exp(-0.1 + spread * s) for s in steps])
    same = [[math.exp(0.002 * s) for s in (1.0, -1.0, 0.5, -0.5)] for _ in range(20)]
    run_a, run_b = _run_of([[1.0] * 4] * 40), _run_of(slowed + same)
    raw = judge_pairs(run_a, run_b, fdr=False)
    p_values = [row.p_value for row in raw.rows[:20]]
    assert 0.005 < min(p_values) and max(p_values) < 0.05
    assert p_values[0] == pytest.approx(stats.ttest_1samp([math.log(r) for r in slowed[0]], 0.0).pvalue)
    assert [row.label for row in raw.rows].count("slower") == 20
    corrected = judge_pairs(run_a, run_b)
    assert [row.label for row in corrected.rows].count("slower") == 0
    assert min(row.q_value for row in corrected.rows) >= 0.05


def test_a_side_that_is_not_a_python_with_the_suite_is_refused_in_one_line(tmp_path):
    with pytest.raises(UsageError, match=r"^--a 'false': not a Python with mnist-mlp"):
        describe_side("A", "false")
    with pytest.raises(UsageError, match=r"^--b '/no/such/python': cannot start it"):
        describe_side("B", "/no/such/python")
    side = describe_side("A", sys.executable)
    assert (side.bench_dir / "conftest.py").is_file() and side.facts["software"]


def test_the_slowdown_side_throttles_only_its_backends_cases(tmp_path, monkeypatch):
    """benchmarks/slowdown.py (the power study's slowed side) reads which backend a child runs."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import slowdown
    finally:
        sys.path.pop(0)
    case = tmp_path / "c.json"
    case.write_text(json.dumps({"backend": "torch"}))
    group = tmp_path / "g.json"
    group.write_text(json.dumps({"cases": [{"case_json": str(case)}]}))
    assert slowdown.backends_of(["-m", "mnist_mlp.bench.group_child", str(group)]) == {"torch"}
    monkeypatch.setenv("MNIST_MLP_BENCH_CASE", str(case))
    assert slowdown.backends_of(["-m", "pytest", "x.py"]) == {"torch"}
    assert slowdown.backends_of(["-c", "print(1)"]) == set()


def test_a_side_runs_its_own_suite_whatever_checkout_the_current_directory_is(tmp_path, monkeypatch):
    """``python -m``/``-c`` put the current directory first on sys.path: started in another
    checkout (here a decoy ``mnist_mlp`` that cannot be imported), a side and its children must
    still import the suite their own Python installed (``child.SAFE_PATH``)."""
    from mnist_mlp.bench import case as bench_case
    from mnist_mlp.bench.child import SAFE_PATH

    decoy = tmp_path / "mnist_mlp"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy checkout in the current directory')\n")
    monkeypatch.chdir(tmp_path)
    side = describe_side("A", sys.executable)
    assert side.bench_dir == runner.find_benchmarks_dir()
    env = bench_case.child_env(tmp_path / "case.json")
    assert all(env[key] == value for key, value in SAFE_PATH.items())
    done = subprocess.run([sys.executable, "-c", "import mnist_mlp; print(mnist_mlp.__file__)"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0 and str(tmp_path) not in done.stdout, done.stderr


def test_a_side_without_passes_is_judged_on_the_values_of_both():
    """A side from before the passes (its value: one window) against one with them: both sides'
    values are compared, never one side's value against the other's best pass, and the row does
    not say "best of 5 passes"."""
    def run(with_passes: bool, values: list[float]) -> dict:
        def entry(pair: int, value: float) -> dict:
            row = {"path": "direct", "batch_size": 1, "samples_per_second": value, "seconds_per_batch": {"samples": []}}
            if with_passes:
                row["passes"] = {"samples_per_second": [value * 2] * 5, "best": value * 2}
            return {"repeat": pair, "status": "ok", "inference": [row]}
        return {"cases": [{"id": "c", "status": "ok", "repeats": [entry(i + 1, v) for i, v in enumerate(values)]}]}

    values = [100.0, 101.0, 99.0, 100.5, 99.5]
    others = [v * j for v, j in zip(values, (1.01, 0.99, 1.0, 1.02, 0.98))]
    (row,) = judge_pairs(run(False, values), run(True, others)).rows
    assert row.a == pytest.approx(values) and row.b == pytest.approx(others)  # not B's best passes, 2x
    assert row.passes == 1 and row.figure == row.metric.label and row.label == "within noise"


def test_one_pair_without_passes_puts_the_whole_row_on_values():
    """Best passes in some pairs and values in others would mix two measures in one row: a single
    pair without passes on one side puts every pair of that figure on its values."""
    def run(passes_in: set[int], scale: float) -> dict:
        def entry(pair: int) -> dict:
            value = 100.0 * scale * (1.0 + 0.01 * pair)
            row = {"path": "direct", "batch_size": 1, "samples_per_second": value, "seconds_per_batch": {"samples": []}}
            if pair in passes_in:
                row["passes"] = {"samples_per_second": [value * 3] * 5, "best": value * 3}
            return {"repeat": pair, "status": "ok", "inference": [row]}
        return {"cases": [{"id": "c", "status": "ok", "repeats": [entry(pair) for pair in range(1, 6)]}]}

    (row,) = judge_pairs(run({1, 2, 3, 4, 5}, 1.0), run({1, 2, 4, 5}, 1.0)).rows
    assert row.passes == 1 and row.a == pytest.approx([100.0 * (1.0 + 0.01 * p) for p in range(1, 6)])
    assert row.b == row.a
