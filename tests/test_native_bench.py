"""Native cases in the benchmark: planning, options, the case file, the gate, the report's
"What Keras costs", and one real child (JAX's scanned epoch on a small subset)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from mnist_mlp.bench import runner
from mnist_mlp.bench.resume import run_arguments
from mnist_mlp.cli.bench import add_commands, options_from_args
from mnist_mlp.gate import check as gate
from mnist_mlp.native.cases import implementation_of, parse_implementations, with_native
from mnist_mlp.report import keras_cost, tables
from conftest import run_cli

FAKE = Path(__file__).parent / "fixtures" / "fake_bench_child.py"
DATASET = {"sha256": "0" * 64, "source": "test"}
ALL = ("keras", "native", "native-fast")


def _options(*argv: str):
    sub = argparse.ArgumentParser().add_subparsers()
    add_commands(sub)
    return options_from_args(sub.choices["bench"].parse_args(list(argv)))


def _ids(**kwargs) -> list[str]:
    return [p.case_id for p in runner.plan_cases(installed=lambda n: True, gpu_present=lambda: True, **kwargs)]


def test_native_cases_are_named_after_the_device_and_follow_their_keras_case():
    assert _ids(names=["torch", "numpy"], devices=["cpu", "gpu"], implementations=ALL) == [
        "torch-cpu", "torch-cpu-native", "torch-cpu-native-fast",
        "torch-gpu", "torch-gpu-native", "torch-gpu-native-fast", "numpy-cpu", "numpy-cpu-native"]
    assert _ids(names=["jax", "numpy"], devices=["cpu"], implementations=("native-fast",)) == ["jax-cpu-native-fast", "numpy-cpu"]
    assert _ids(names=["jax"], devices=["cpu"]) == ["jax-cpu"]  # the default: Keras only, as before


def test_native_cases_are_not_crossed_with_keras_compile_variants():
    variants = ((), (("jit_compile", False),))
    assert with_native(variants, ALL, "tensorflow") == [(), (("jit_compile", False),), (("implementation", "native"),),
                                                        (("implementation", "native-fast"),)]
    assert with_native((), ALL, "numpy") == [(("implementation", "native"),)]  # NumPy has no fast variant


def test_bench_defaults_to_all_three_implementations_and_parses_a_choice():
    assert _options("--profile", "quick").implementations == ALL
    assert _options("--profile", "quick", "--implementations", "native-fast,keras").implementations == ("native-fast", "keras")
    assert parse_implementations("keras, native") == ("keras", "native")
    with pytest.raises(ValueError, match="unknown implementation fast"):
        parse_implementations("fast")


def test_bench_refuses_an_unknown_implementation_in_one_line():
    proc = run_cli("bench", "--implementations", "keras,fast")
    assert proc.returncode == 2
    assert "--implementations" in proc.stderr and "fast is not one of keras, native, native-fast" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_case_files_say_the_implementation_and_native_cases_hand_no_weights_on(tmp_path):
    opts = _options("--profile", "quick", "--backends", "jax,numpy", "--devices", "cpu", "--out", str(tmp_path))
    seen = {}

    def command(case, case_json, raw_json):
        seen[case.case_id] = case
        return [sys.executable, str(FAKE), "ok", str(case_json), str(raw_json)]

    outcome = runner.run_benchmarks(opts, child_command=command, peak_gflops=100.0, dataset=DATASET)
    assert {k: c.implementation for k, c in seen.items()} == {
        "jax-cpu": "keras", "jax-cpu-native": "native", "jax-cpu-native-fast": "native-fast",
        "numpy-cpu": "keras", "numpy-cpu-native": "native"}
    assert seen["jax-cpu"].weights_out and not seen["jax-cpu-native"].weights_out
    assert seen["numpy-cpu-native"].training_path and not seen["numpy-cpu"].training_path
    assert outcome.run["workload"]["implementations"] == list(ALL)
    assert run_arguments(outcome.run)["implementations"] == ALL  # a resume plans the same cases
    records = {c["id"]: c for c in outcome.run["cases"]}
    assert implementation_of(records["jax-cpu-native-fast"]) == "native-fast"
    assert implementation_of(records["jax-cpu"]) == "keras"
    assert records["numpy-cpu-native"]["note"] is None  # no "untrained weights" note: it trains


def _case(case_id, backend, ms, peak=100.0, status="ok", overrides=None, accuracy=0.975):
    per_seed = [{"seed": 0, "test_accuracy": accuracy, "history": {}}]
    return {"id": case_id, "backend": backend, "device": "cpu", "status": status, "busy": False, "unstable": False,
            "compile_overrides": overrides, "peak": {"gflops": peak}, "flops": {"train_per_sample": 427_904},
            "training": {"steady_ms_per_step": {"mean": ms}, "per_seed": per_seed}}


def _run(cases):
    return {"workload": {"train": {"batch_size": 32}}, "cases": cases}


def test_what_keras_costs_gives_ratios_and_floor_multiples():
    run = _run([
        _case("torch-cpu", "torch", 2.0), _case("torch-cpu-native", "torch", 0.5, overrides={"implementation": "native"}),
        _case("torch-cpu-native-fast", "torch", 0.4, peak=200.0, overrides={"implementation": "native-fast"}),
        _case("torch-cpu-jit_false", "torch", 9.0, overrides={"jit_compile": False}),  # a Keras variant: not the base
        _case("jax-cpu", "jax", 0.3),  # no native case beside it: no row
        _case("numpy-cpu-native", "numpy", 1.0, overrides={"implementation": "native"}),
    ])
    rows = {r["backend"]: r for r in keras_cost.rows(run)}
    assert set(rows) == {"torch", "numpy"}
    torch = rows["torch"]
    floor = 32 * 427_904 / 100e9 * 1e3  # 0.1369 ms at 100 GFLOP/s
    assert torch["keras"]["ms_per_step"] == 2.0 and torch["keras"]["floor_ms"] == pytest.approx(floor)
    assert torch["native"]["vs_keras"] == pytest.approx(0.25)
    assert torch["native-fast"]["floor_multiple"] == pytest.approx(0.4 / (floor / 2))  # its own, doubled peak
    assert rows["numpy"]["keras"]["ms_per_step"] is None and rows["numpy"]["native"]["vs_keras"] is None
    headers, body = keras_cost.table(run)
    assert body[0][:7] == ["torch", "cpu", "2.000", "0.500", "0.400", "0.25x", "0.20x"]
    assert "What Keras costs" in tables.format_all(run)
    assert "What Keras costs" not in tables.format_all(_run([_case("torch-cpu", "torch", 2.0)]))  # old runs unchanged
    one_epoch = _run([_case("jax-cpu", "jax", None), _case("jax-cpu-native", "jax", None, overrides={"implementation": "native"})])
    assert keras_cost.rows(one_epoch) == []  # no steady ms/step anywhere: no row of dashes


def test_what_keras_costs_marks_every_figure_a_flagged_case_went_into():
    """A busy or unstable case's ms/step is marked, and so is each ratio with it on either side, its
    floor multiple, and the row's floor where its peak gave it; figures of unflagged cases are not."""
    run = _run([
        _case("torch-cpu", "torch", 2.0), {**_case("torch-cpu-native", "torch", 0.5, overrides={"implementation": "native"}), "busy": True},
        _case("torch-cpu-native-fast", "torch", 0.4, peak=200.0, overrides={"implementation": "native-fast"}),
        {**_case("jax-cpu", "jax", 0.5, peak=400.0), "unstable": True},
        _case("jax-cpu-native-fast", "jax", 0.2, overrides={"implementation": "native-fast"}),
    ])
    headers, body = keras_cost.table(run)
    torch, jax = ({h: cell for h, cell in zip(headers, line)} for line in body)
    assert torch["native ms/step"] == "0.500 *" and torch["native/Keras"] == "0.25x *" and torch["native × floor"] == "3.7 *"
    assert torch["fast/Keras"] == "0.20x" and torch["fast × floor"] == "5.8" and torch["Keras × floor"] == "14.6"
    assert torch["floor ms"] == "0.0685"  # the fast case's (doubled) peak gave the lowest floor: not marked
    assert jax["Keras ms/step"] == "0.500 *" and jax["fast/Keras"] == "0.40x *" and jax["Keras × floor"] == "14.6 *"
    assert jax["floor ms"] == "0.0342 *"  # from the unstable case's peak
    assert jax["fast ms/step"] == "0.200" and jax["fast × floor"] == "1.5" and jax["native/Keras"] == "–"
    assert "every figure they went into" in keras_cost.note(run)


def test_what_keras_costs_figure_is_drawn(tmp_path):
    from mnist_mlp.report.render import draw_figures

    run = _run([_case("jax-cpu", "jax", 0.3), _case("jax-cpu-native-fast", "jax", 0.12, overrides={"implementation": "native-fast"})])
    drawn = draw_figures(run, tmp_path)
    assert drawn["keras_cost"].stat().st_size > 1000


def test_native_cases_pass_the_same_gate_and_a_failed_numpy_training_is_named():
    run = _run([_case("jax-cpu", "jax", 0.3), _case("jax-cpu-native", "jax", 0.3, overrides={"implementation": "native"}, accuracy=0.5),
                {**_case("numpy-cpu-native", "numpy", 1.0, overrides={"implementation": "native"}), "status": "failed", "training": None}])
    report = gate.check_run(run)  # the shipped thresholds
    keys = {g.key: g for g in report.groups}
    assert keys["jax-cpu-native"].thresholds_key == keys["jax-cpu"].thresholds_key
    assert not keys["jax-cpu-native"].passed and not report.passed
    assert "numpy-cpu-native" in report.not_checked  # a native NumPy case that did not train is not silently dropped


def test_a_real_native_case_runs_in_its_own_child(tmp_path, data_dir):
    """The JAX scanned epoch through the real suite: 2 epochs on 800 training images, in the full
    profile's own process per case and with its training check against the NumPy reference."""
    proc = run_cli("bench", "--profile", "full", "--no-gate", "--backends", "jax", "--devices", "cpu", "--implementations",
                   "native-fast", "--epochs", "2", "--train-samples", "1000", "--out", str(tmp_path),
                   "--data-dir", str(data_dir), env={"MNIST_MLP_BENCH_PEAK_GFLOPS": "100"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    case = next(c for c in run["cases"] if c["id"] == "jax-cpu-native-fast")
    assert case["status"] == "ok"
    training = case["training"]
    assert training["steps_per_epoch"] == 25 and training["steady_ms_per_step"]["mean"] > 0
    assert case["training_agreement"]["implementation"] == "native-fast" and case["training_agreement"]["ok"]
    assert case["agreement"]["argmax_agreement"] == 1.0
    assert case["inference"] == []  # native cases time training only
