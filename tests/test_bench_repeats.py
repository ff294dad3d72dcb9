"""``bench --repeats N``: every case N times, each a fresh process, round-robin over the cases.

Fake children (tests/fixtures/fake_bench_child.py) stand in for the benchmark child, so the
order, the records and the failure paths are checked in well under a second each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mnist_mlp import results
from mnist_mlp.bench import repeats, runner
from mnist_mlp.bench.plan import CasePlan
from mnist_mlp.bench.profiles import get_profile, with_overrides
from mnist_mlp.cli.main import main
from mnist_mlp.config import TrainConfig
from mnist_mlp.errors import EXIT_CASES_FAILED, EXIT_OK

FAKE = Path(__file__).parent / "fixtures" / "fake_bench_child.py"
DATASET = {"sha256": "0" * 64, "source": "test"}


def _options(tmp_path: Path, count: int, backends=("jax", "torch", "numpy")) -> runner.BenchOptions:
    return runner.BenchOptions(
        profile=with_overrides(get_profile("quick"), timeout=60.0), profile_label="quick", train=TrainConfig(epochs=1),
        backends=tuple(backends), devices=("cpu",), out=tmp_path / "reports", implementations=("keras",), repeats=count,
    )


def _run(tmp_path: Path, count: int, mode=lambda case_json: "ok-train"):
    """Run with fake children; ``mode(case_json)`` picks each process's mode (its file names the repeat)."""
    order: list[str] = []

    def command(case, case_json, raw_json):
        order.append(Path(case_json).name.removesuffix(".case.json"))
        return [sys.executable, str(FAKE), mode(Path(case_json)), str(case_json), str(raw_json)]

    outcome = runner.run_benchmarks(_options(tmp_path, count), child_command=command, peak_gflops=100.0, dataset=DATASET)
    saved = results.load(outcome.run_dir)
    return outcome, {case["id"]: case for case in saved["cases"]}, saved, order


def test_schedule_is_round_robin_over_the_cases():
    a, b = CasePlan("a", "jax", "cpu"), CasePlan("b", "torch", "cpu")
    assert [(r, unit[0][1].case_id) for r, unit in repeats.schedule([[(1, a)], [(2, b)]], 3)] == [
        (1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "a"), (3, "b")]


def test_each_repeat_is_a_process_of_its_own_interleaved_and_kept(tmp_path):
    outcome, cases, saved, order = _run(tmp_path, 3)
    assert outcome.exit_code == EXIT_OK and saved["workload"]["repeats"] == 3
    assert order == ["jax-cpu", "torch-cpu", "numpy-cpu", "jax-cpu.r2", "torch-cpu.r2", "numpy-cpu.r2",
                     "jax-cpu.r3", "torch-cpu.r3", "numpy-cpu.r3"]
    for case_id, case in cases.items():
        assert [entry["repeat"] for entry in case["repeats"]] == [1, 2, 3]
        assert all(entry["status"] == "ok" for entry in case["repeats"])
        raws = [entry["raw_benchmark_json"] for entry in case["repeats"]]
        assert raws == [f"raw/{case_id}.json", f"raw/{case_id}.r2.json", f"raw/{case_id}.r3.json"]
        assert all((outcome.run_dir / raw).is_file() for raw in raws)
        assert case["inference"] == case["repeats"][0]["inference"]  # the case's own figures: its first repeat's
    # interleaved in time too: the second repeat of jax starts after the first of numpy ended
    assert cases["jax-cpu"]["repeats"][1]["started_utc"] >= cases["numpy-cpu"]["repeats"][0]["ended_utc"]


def test_a_later_repeat_that_fails_keeps_everything_else(tmp_path):
    outcome, cases, saved, _ = _run(tmp_path, 3, mode=lambda path: "fail" if path.name == "torch-cpu.r2.case.json" else "ok-train")
    assert outcome.exit_code == EXIT_CASES_FAILED and saved["status"] == "partial"
    torch = cases["torch-cpu"]
    assert torch["status"] == "ok" and torch["inference"]  # its first repeat's figures stay
    assert [entry["status"] for entry in torch["repeats"]] == ["ok", "failed", "ok"]
    assert [entry["status"] for entry in cases["jax-cpu"]["repeats"]] == ["ok", "ok", "ok"]


def test_a_case_that_fails_first_is_not_repeated(tmp_path):
    outcome, cases, _, order = _run(tmp_path, 2, mode=lambda path: "fail" if path.name.startswith("jax-cpu") else "ok-train")
    assert outcome.exit_code == EXIT_CASES_FAILED
    assert "jax-cpu.r2" not in order and cases["jax-cpu"]["status"] == "failed"
    assert [entry["status"] for entry in cases["jax-cpu"]["repeats"]] == ["failed"]


def test_one_repeat_writes_no_repeats_field(tmp_path):
    _, cases, saved, order = _run(tmp_path, 1)
    assert "repeats" not in saved["workload"] and all("repeats" not in case for case in cases.values())
    assert order == ["jax-cpu", "torch-cpu", "numpy-cpu"]


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_repeats_must_be_a_positive_whole_number(value, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["bench", "--repeats", value])
    assert stopped.value.code == 2 and "--repeats" in capsys.readouterr().err


def test_resume_keeps_the_runs_repeats(tmp_path):
    from mnist_mlp.bench import resume

    _, _, saved, _ = _run(tmp_path, 2)
    assert resume.run_arguments(saved)["repeats"] == 2
    older = json.loads(json.dumps(saved))
    older["workload"].pop("repeats")
    assert resume.run_arguments(older)["repeats"] == 1
