"""Data-parallel training: the batch rules, the case plan, the skip reasons, and N=2 == 1 device per backend.

The equivalence tests start one ``mnist-mlp train --data-parallel 2`` child per backend (a
process holds one Keras backend, and the simulated devices must be set before the framework
starts) on a 2,048-image subset for one epoch, and read the measured weight difference against
one device from its JSON.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_mlp import backends

from mnist_mlp.gate import check as gate

from mnist_mlp.parallel import plan as parallel
from mnist_mlp.bench import plan, runner
from mnist_mlp.bench.caseconfig import CaseConfig
from mnist_mlp.errors import EXIT_BAD_INPUT, UsageError

from conftest import run_cli, run_cli_json


# --------------------------------------------------------------------------- batch rules


def test_strong_scaling_splits_the_global_batch_of_32():
    plan = parallel.ParallelPlan(devices=4)
    assert (plan.global_batch, plan.per_device_batch, plan.learning_rate) == (32, 8, 1e-3)


@pytest.mark.parametrize("rule, factor", [("none", 1.0), ("linear", 4.0), ("sqrt", 2.0)])
def test_weak_scaling_gives_32_per_device_and_scales_the_learning_rate(rule, factor):
    plan = parallel.ParallelPlan(devices=4, scaling="weak", lr_rule=rule)
    assert (plan.global_batch, plan.per_device_batch) == (128, 32)
    assert plan.learning_rate == pytest.approx(1e-3 * factor)


def test_strong_scaling_refuses_a_device_count_that_does_not_divide_32():
    with pytest.raises(UsageError, match="32 does not divide by 3"):
        parallel.ParallelPlan(devices=3)
    assert parallel.ParallelPlan(devices=3, scaling="weak").global_batch == 96  # weak: always divisible


def test_strong_scaling_keeps_the_learning_rate():
    with pytest.raises(UsageError, match="--lr-rule"):
        parallel.ParallelPlan(devices=2, lr_rule="linear")


def test_the_last_partial_batch_is_dropped_and_counted():
    x, y = np.arange(100), np.arange(100) * 2
    kept_x, kept_y, dropped = parallel.trim_to_batches(x, y, 32)
    assert (len(kept_x), dropped) == (96, 4) and kept_x[-1] == 95 and np.array_equal(kept_y, y[:96])
    with pytest.raises(UsageError, match="no full global batch"):
        parallel.trim_to_batches(x[:10], y[:10], 32)


@pytest.mark.parametrize("batch, dropped_val", [(32, 0), (64, 32), (128, 96)])
def test_what_the_seed_split_loses_at_the_usual_global_batches(batch, dropped_val):
    n_train = math.floor(60_000 * 0.8)
    ones = np.ones(60_000)
    assert parallel.trim_to_batches(ones[:n_train], ones[:n_train], batch)[2] == 0
    assert parallel.trim_to_batches(ones[n_train:], ones[n_train:], batch)[2] == dropped_val


def test_shards_cover_each_global_batch_once():
    rows = [np.arange(64)[parallel.shard_rows(32, 32, rank, 4)] for rank in range(4)]
    assert np.array_equal(np.concatenate(rows), np.arange(32, 64))


def test_max_weight_difference():
    a = [np.zeros((2, 2), np.float32), np.ones(3, np.float32)]
    b = [np.zeros((2, 2), np.float32), np.array([1, 1.5, 1], np.float32)]
    from mnist_mlp.reference.training import max_abs_diff

    assert max_abs_diff(a, b) == 0.5
    assert max_abs_diff(a, a) == 0.0
    with pytest.raises(ValueError, match="array lists differ in length: 2 vs 1"):
        max_abs_diff(a, a[:1])


# --------------------------------------------------------------------------- engines and skip reasons


def test_each_keras_backend_names_its_own_engine_and_numpy_has_none():
    engines = {name: backends.get(name).data_parallel_engine(2, "cpu").engine for name in ("tensorflow", "jax", "torch")}
    assert "MirroredStrategy" in engines["tensorflow"]
    assert "DataParallel" in engines["jax"]
    assert "DistributedDataParallel" in engines["torch"]
    with pytest.raises(UsageError, match="numpy has no data-parallel engine"):
        backends.get("numpy").data_parallel_engine(2, "cpu")


def test_multi_worker_mirrored_strategy_is_skipped_with_the_keras_issue():
    reason = backends.get("tensorflow").multi_process_skip_reason()
    assert "MultiWorkerMirroredStrategy" in reason and "20585" in reason
    assert backends.get("jax").multi_process_skip_reason() is None


def test_train_refuses_several_tensorflow_processes_with_the_reason():
    proc = run_cli("train", "--backend", "tensorflow", "--data-parallel", "2", "--processes", "2",
                   "--coordinator", "localhost:1", "--out", "/tmp/never-written-dp")
    assert proc.returncode == EXIT_BAD_INPUT
    assert "20585" in proc.stderr and proc.stderr.count("\n") == 1


def test_jax_simulates_cpu_devices_through_xla_flags(monkeypatch):
    from mnist_mlp.backends.jax_parallel import simulate_cpu_devices

    monkeypatch.setenv("XLA_FLAGS", "--xla_foo=1 --xla_force_host_platform_device_count=8")
    simulate_cpu_devices(2)
    import os

    assert os.environ["XLA_FLAGS"] == "--xla_foo=1 --xla_force_host_platform_device_count=2"


# --------------------------------------------------------------------------- bench plan


def test_bench_plans_dp_cases_with_their_ids_and_case_options():
    variants = ((), *parallel.bench_variants([1, 2, 2]))
    plans = runner.plan_cases(["jax", "torch"], ["cpu"], installed=lambda name: True, gpu_present=lambda: False,
                              variants=variants)
    assert [p.case_id for p in plans] == ["jax-cpu", "jax-cpu-dp1", "jax-cpu-dp2", "torch-cpu", "torch-cpu-dp1", "torch-cpu-dp2"]
    assert parallel.case_options(plans[2].variant) == {"devices": 2, "scaling": "strong", "lr_rule": "none"}
    assert parallel.case_options(plans[0].variant) is None
    weak = parallel.bench_variants([4], "weak", "sqrt")[0]
    assert plan.variant_suffix(weak) == "-dp4-weak-lr_sqrt"
    with pytest.raises(UsageError, match="does not divide"):
        parallel.bench_variants([3])


def test_case_config_carries_the_data_parallel_options(tmp_path):
    case = CaseConfig(case_id="jax-cpu-dp2", backend="jax", device="cpu",
                      data_parallel={"devices": 2, "scaling": "strong", "lr_rule": "none"})
    assert CaseConfig.from_dict(case.to_dict()) == case


def test_bench_cli_adds_the_variants():
    from mnist_mlp.cli.bench import options_from_args
    from mnist_mlp.cli.main import build_parser

    args = build_parser().parse_args(["bench", "--profile", "quick", "--backends", "jax", "--data-parallel", "1,2"])
    options = options_from_args(args)
    assert options.variants == ((), (("data_parallel", 1),), (("data_parallel", 2),))
    with pytest.raises(UsageError, match="only with --data-parallel"):
        options_from_args(build_parser().parse_args(["bench", "--scaling", "weak"]))


def test_weak_scaling_is_not_gated_with_the_reason():
    seed = {"seed": 0, "test_accuracy": 0.97, "history": {"loss": [0.1], "accuracy": [0.9], "val_loss": [0.1], "val_accuracy": [0.9]}}
    case = {"id": "jax-cpu-dp2-weak", "backend": "jax", "device": "cpu", "status": "ok",
            "training": {"per_seed": [seed], "data_parallel": {"scaling": "weak", "devices": 2}}}
    report = gate.check_run({"cases": [case], "workload": {}})
    assert report.not_checked == {"jax-cpu-dp2-weak": gate.WEAK_SCALING_NOT_GATED}


# --------------------------------------------------------------------------- N=2 equals one device


@pytest.mark.backends
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_two_devices_train_the_same_model_as_one(backend, data_dir, tmp_path):
    out = run_cli_json(
        "train", "--backend", backend, "--data-parallel", "2", "--epochs", "1", "--train-samples", "2560",
        "--equivalence-samples", "2048", "--data-dir", str(data_dir), "--out", str(tmp_path), backend=backend,
    )
    facts = out["data_parallel"]
    assert (facts["devices"], facts["per_device_batch"], facts["global_batch"]) == (2, 16, 32)
    assert len(set(facts["device_names"])) == 2  # the engine really ran on two devices
    assert facts["simulated"] and facts["note"] == parallel.SIMULATED_NOTE
    equivalence = facts["equivalence"]
    assert equivalence["samples"] == 2048
    assert 0.0 <= equivalence["max_abs_weight_diff"] <= parallel.EQUIVALENCE_TOLERANCE, equivalence
    assert out["test_accuracy"] > 0.7  # one epoch on 2,048 images: learning happened
    assert (tmp_path / "model.keras").is_file()
    # the same timed span on every engine: the 2,048 training samples (2,560 less the 20% held out)
    # of one epoch's training steps, validation outside it
    assert facts["samples_per_second"] * facts["train_seconds"] == pytest.approx(2048)
    assert facts["train_seconds"] <= sum(out["history"]["epoch_seconds"]) + 1e-9
    assert out["history"]["epoch_train_seconds"] and sum(out["history"]["epoch_train_seconds"]) == pytest.approx(facts["train_seconds"])


def test_keras_engines_time_the_training_steps_only_with_validation_outside():
    """keras_fit (the JAX and TensorFlow engines' timed fit) counts each epoch's training steps
    and not its validation pass, as torch's engine does, and synchronises before each reading."""
    import time as clock

    synced = []

    class FakeModel:
        def fit(self, x, y, *, batch_size, epochs, shuffle, validation_data, verbose, callbacks):
            for epoch in range(epochs):
                for cb in callbacks:
                    cb.on_epoch_begin(epoch)
                clock.sleep(0.05)  # the training steps
                for cb in callbacks:
                    cb.on_test_begin()
                clock.sleep(0.1)  # validation
                for cb in callbacks:
                    cb.on_epoch_end(epoch)
            return type("History", (), {"history": {}})()

        def get_weights(self):
            return []

    fit = parallel.keras_fit(FakeModel(), None, None, global_batch=32, epochs=2, shuffle=False,
                             validation_data=object(), startup_seconds=0.0, sync=lambda: synced.append(1))
    assert len(fit.epoch_train_seconds) == 2 and all(0.045 <= s < 0.1 for s in fit.epoch_train_seconds)
    assert fit.train_seconds == pytest.approx(sum(fit.epoch_train_seconds))
    assert all(s >= 0.145 for s in fit.epoch_seconds)  # whole epochs, validation included, kept apart
    assert len(synced) == 2 * 3 + 1  # every clock reading of both epochs, and the end of fit


def test_data_parallel_throughput_over_the_warm_seeds_cold_apart():
    per_seed = [{"seed": 0, "train_seconds": 4.0, "samples_per_second": 100.0, "steps_per_second": 3.0},
                {"seed": 1, "train_seconds": 2.0, "samples_per_second": 200.0, "steps_per_second": 6.0},
                {"seed": 2, "train_seconds": 2.0, "samples_per_second": 220.0, "steps_per_second": 7.0}]
    summary = parallel.seed_summary(per_seed)
    assert summary["samples_per_second"] == pytest.approx(210.0) and summary["condition"] == "warm"
    assert summary["cold"]["samples_per_second"] == 100.0
    alone = parallel.seed_summary(per_seed[:1])
    assert alone["samples_per_second"] == 100.0 and alone["condition"] == "cold (one seed)" and alone["warm"] is None


# --------------------------------------------------------------------------- report


def _dp_case(case_id, devices, samples_per_second, diff, simulated):
    facts = {**parallel.ParallelPlan(devices=devices).to_dict(), "engine": "e", "simulated": simulated,
             "note": parallel.SIMULATED_NOTE if simulated else None, "samples_per_second": samples_per_second,
             "steps_per_second": samples_per_second / 32, "startup_seconds": 1.5,
             "equivalence": {"max_abs_weight_diff": diff, "ok": diff <= 1e-5}}
    return {"id": case_id, "backend": "jax", "device": "cpu", "status": "ok",
            "training": {"data_parallel": facts, "test_accuracy": {"mean": 0.95}}}


def test_report_shows_speedup_efficiency_equivalence_and_the_simulated_note(tmp_path):
    from mnist_mlp.report import tables
    from mnist_mlp.report.render import draw_figures

    run = {"cases": [_dp_case("jax-cpu-dp1", 1, 1000.0, 0.0, False), _dp_case("jax-cpu-dp2", 2, 500.0, 3.4e-7, True)]}
    headers, rows = tables.data_parallel_table(run)
    row = dict(zip(headers, rows[1]))
    assert row["speedup T1/TN"] == "0.50" and row["efficiency T1/(N·TN)"] == "0.25"
    assert row["max |Δw| vs 1 device"] == "3.40e-07 ok" and row["note"] == parallel.SIMULATED_NOTE
    assert (row["per-device batch"], row["global batch"]) == ("16", "32")
    assert parallel.SIMULATED_NOTE in tables.format_all(run)["Data parallel"]
    assert draw_figures(run, tmp_path)["scaling"].stat().st_size > 0


@pytest.mark.backends
def test_two_jax_processes_on_localhost_train_one_model(data_dir, tmp_path):
    """``keras.distribution.initialize`` joins two processes (one simulated CPU device each)."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from conftest import ROOT

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mnist_mlp", "train", "--backend", "jax", "--data-parallel", "2", "--processes", "2",
             "--coordinator", f"localhost:{port}", "--process-id", str(rank), "--epochs", "1", "--train-samples", "2560",
             "--equivalence-samples", "2048", "--data-dir", str(data_dir), "--out", str(tmp_path / f"p{rank}")],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for rank in range(2)
    ]
    errors = [proc.communicate(timeout=600)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors[0][-2000:] + errors[1][-2000:]
    facts = [json.loads((tmp_path / f"p{rank}" / "history.json").read_text())["data_parallel"] for rank in range(2)]
    assert facts[0]["processes"] == 2 and len(set(facts[0]["device_names"])) == 2
    assert facts[0]["equivalence"]["max_abs_weight_diff"] <= parallel.EQUIVALENCE_TOLERANCE
    assert facts[0]["equivalence"]["max_abs_weight_diff"] == facts[1]["equivalence"]["max_abs_weight_diff"]


def test_too_few_devices_is_a_skip_with_the_reason():
    """Data parallel on 4 GPUs where the framework sees 2 (fake modules): each class counts its own."""
    import types

    from mnist_mlp.backends import JaxBackend, TensorFlowBackend, TorchBackend

    torch = TorchBackend()
    torch.module = lambda: types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: True, device_count=lambda: 2))
    tf = TensorFlowBackend()
    tf.module = lambda: types.SimpleNamespace(config=types.SimpleNamespace(list_logical_devices=lambda kind: ["g0", "g1"]))
    jax = JaxBackend()
    jax.module = lambda: types.SimpleNamespace(devices=lambda kind: ["d0", "d1"])
    for backend in (torch, tf, jax):
        assert backend.data_parallel_missing(2, "gpu") is None
        assert backend.data_parallel_missing(4, "gpu") == f"{backend.name} sees 2 gpu device(s); data parallel on 4 needs 4"
    assert torch.data_parallel_missing(8, "cpu") is None  # CPU ranks are processes
