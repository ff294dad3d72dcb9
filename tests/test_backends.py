"""Every backend, each in its own process, through the CLI users call: train, evaluate, verify, predict.

One epoch per backend (the 25-epoch accuracy band belongs to the benchmark). A fresh interpreter
per backend, because Keras fixes its backend at import.
"""

from __future__ import annotations

import json

import pytest

from conftest import run_cli, run_cli_json

BACKENDS = ("tensorflow", "jax", "torch")

pytestmark = pytest.mark.backends


@pytest.fixture(scope="module", params=BACKENDS)
def trained(request, tmp_path_factory, data_dir):
    """A 1-epoch model per backend, trained by ``mnist-mlp train`` in a child process."""
    backend = request.param
    pytest.importorskip({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend])
    out = tmp_path_factory.mktemp(f"train-{backend}")
    result = run_cli_json("train", "--backend", backend, "--epochs", "1", "--out", str(out), "--data-dir", str(data_dir))
    return backend, out, result


def test_one_epoch_reaches_90_percent(trained):
    backend, out, result = trained
    assert result["backend"] == backend
    assert result["test_accuracy"] >= 0.90, f"{backend}: {result['test_accuracy']}"
    assert result["config"]["epochs"] == 1 and result["config"]["batch_size"] == 32
    history = result["history"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"):
        assert len(history[key]) == 1, key
    assert result["steps_per_epoch"] == 1500  # 48,000 training images / 32
    assert (out / "model.keras").is_file()
    saved = json.loads((out / "history.json").read_text())
    assert saved["test_accuracy"] == result["test_accuracy"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_reproduces_the_training_accuracy(trained, data_dir):
    backend, out, result = trained
    evaluated = run_cli_json("evaluate", "--backend", backend, "--model", str(out / "model.keras"), "--data-dir", str(data_dir))
    assert evaluated["test_accuracy"] == pytest.approx(result["test_accuracy"], abs=1e-4)


def test_verify_agrees_with_numpy(trained, data_dir):
    backend, out, _ = trained
    verified = run_cli_json("verify", "--backend", backend, "--model", str(out / "model.keras"), "--data-dir", str(data_dir))
    assert verified["backend"] == backend
    assert verified["samples"] == 10_000
    assert verified["max_abs_diff"] <= 1e-5
    assert verified["argmax_agreement"] == 1.0
    assert verified["keras_params"] == verified["reference_params"] == 104_938
    assert verified["ok"] is True


def test_predict_test_images(trained, data_dir, tmp_path):
    backend, out, _ = trained
    plot = tmp_path / "pred.png"
    single = run_cli_json(
        "predict", "--backend", backend, "--model", str(out / "model.keras"),
        "--data-dir", str(data_dir), "--index", "0", "--plot", str(plot),
    )
    (prediction,) = single["predictions"]
    assert prediction["digit"] == 7  # the first test image is a 7
    assert len(prediction["probabilities"]) == 10
    assert sum(prediction["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    several = run_cli_json(
        "predict", "--backend", backend, "--model", str(out / "model.keras"),
        "--data-dir", str(data_dir), "--index", "1", "--index", "2",
    )
    assert [p["digit"] for p in several["predictions"]] == [2, 1]


def test_another_backend_loads_the_model(trained, data_dir):
    """A .keras file is backend-neutral: a model trained on one backend verifies on the next."""
    backend, out, _ = trained
    other = BACKENDS[(BACKENDS.index(backend) + 1) % len(BACKENDS)]
    pytest.importorskip({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[other])
    proc = run_cli("verify", "--backend", other, "--model", str(out / "model.keras"), "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK" in proc.stdout
