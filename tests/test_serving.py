"""Serving the exported model: export, the float32 check, the precision split, bad artifacts, cold start.

One small model is trained here (one epoch on 3,000 images, on this process's Keras backend) and
exported to all four formats by ``mnist-mlp export`` in a child (TensorFlow); the tests then
recompute what the export claims here,
in this process, from the artifacts and the model's own weights: each float32 runtime within 1e-5
of the NumPy forward pass, and ``predict --runtime`` giving ``predict``'s answer. The runtimes are
the ``serve`` extra; under CI they must be installed, elsewhere a missing one skips.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, run_cli_json
from mnist_mlp import serving
from mnist_mlp.errors import ModelFileError
from mnist_mlp.serving.check import check_session, failure_line

pytestmark = pytest.mark.backends


def _require(runtime: serving.Runtime) -> None:
    if not runtime.is_installed():
        if os.environ.get("CI"):
            pytest.fail(f"{runtime.module_name} is not installed ({runtime.install_hint()})")
        pytest.skip(f"{runtime.module_name} is not installed")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, data_dir):
    """A trained model and its four artifacts, made by the commands users run."""
    for fmt in serving.FORMATS:
        _require(serving.for_format(fmt))
    from mnist_mlp.data import load_mnist, scale
    from mnist_mlp.model import build_model, save_model

    root = tmp_path_factory.mktemp("serving")
    data = load_mnist(data_dir)
    trained = build_model()
    trained.fit(scale(data.x_train[:3000]), data.y_train[:3000], epochs=1, batch_size=32, verbose=0)
    model = save_model(trained, root / "model.keras")
    report = run_cli_json("export", "--model", str(model), "--out", str(root / "artifacts"), "--data-dir", str(data_dir))
    return {"model": model, "folder": root / "artifacts", "report": report}


@pytest.fixture(scope="module")
def truth(exported, mnist):
    """The model's weights and the test images, read here (Keras on this process's backend)."""
    from mnist_mlp.data import scale
    from mnist_mlp.model import load_model
    from mnist_mlp.reference.forward import NumpyMLP, weights_from_model

    weights = weights_from_model(load_model(exported["model"]))
    images = scale(mnist.x_test)
    return {"weights": weights, "images": images, "labels": mnist.y_test, "probs": NumpyMLP(weights)(images)}


def test_export_writes_every_format_each_checked(exported, truth):
    report = exported["report"]
    assert report["ok"] is True
    assert [a["format"] for a in report["artifacts"]] == list(serving.FORMATS)
    written = json.loads((exported["folder"] / "export.json").read_text())
    assert written["artifacts"] == report["artifacts"]
    accuracy = float(np.mean(truth["probs"].argmax(1) == truth["labels"]))
    assert report["keras_test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    for record in report["artifacts"]:
        assert record["ok"] and record["within_tolerance"] and record["max_abs_diff"] <= 1e-5
        assert record["test_accuracy"] == record["reference_accuracy"] == report["keras_test_accuracy"]
        assert Path(record["artifact"]).exists() and record["artifact_bytes"] > 104_938 * 4  # the float32 weights at least


@pytest.mark.parametrize("name", ["onnxruntime", "openvino", "litert"])  # the SavedModel: the export's own check (TensorFlow stays out of this process)
def test_each_float32_runtime_agrees_with_numpy_recomputed(exported, truth, name):
    runtime = serving.get(name)
    session = runtime.load(runtime.artifact_in(exported["folder"]))
    probs = session(truth["images"])
    assert probs.shape == (10_000, 10)
    assert float(np.max(np.abs(probs - truth["probs"]))) <= serving.FLOAT32_TOLERANCE
    assert session.setting["in_force"] == "float32"


def test_predict_with_an_artifact_answers_as_the_keras_model(exported, truth, data_dir):
    from mnist_mlp.model import load_model

    keras_probs = load_model(exported["model"]).predict(truth["images"][[0, 7]], verbose=0)
    runtime = serving.get("onnxruntime")
    answer = run_cli_json("predict", "--runtime", "onnxruntime", "--model", str(runtime.artifact_in(exported["folder"])),
                          "--index", "0", "--index", "7", "--data-dir", str(data_dir))
    assert answer["runtime"] == "onnxruntime"
    assert [p["source"] for p in answer["predictions"]] == [f"test[{i}] (label {int(truth['labels'][i])})" for i in (0, 7)]
    for ours, theirs in zip(answer["predictions"], keras_probs):
        assert ours["digit"] == int(np.argmax(theirs))
        assert np.allclose(ours["probabilities"], theirs, atol=1e-5)


def test_a_corrupt_artifact_is_one_line_naming_the_file(tmp_path, data_dir):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"this is not a protobuf" * 10)
    proc = run_cli("predict", "--runtime", "onnxruntime", "--model", str(bad), "--index", "0", "--data-dir", str(data_dir))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "cannot load it as a onnx model" in lines[0], proc.stderr


@pytest.mark.parametrize("name,artifact", [("openvino", "model.xml"), ("litert", "model.tflite"), ("savedmodel", "saved_model")])
def test_corrupt_artifacts_of_every_runtime_are_refused_by_name(tmp_path, name, artifact):
    runtime = serving.get(name)
    _require(runtime)
    path = tmp_path / artifact
    if artifact == "saved_model":  # a folder without saved_model.pb (refused before TensorFlow is imported)
        path.mkdir()
        (path / "variables").mkdir()
    else:
        path.write_text("<net>not a model</net>")
    with pytest.raises(ModelFileError, match=str(path)):
        runtime.load(path)
    with pytest.raises(ModelFileError, match="no .* artifact here"):
        runtime.load(tmp_path / "absent" / artifact)


def test_a_foreign_onnx_model_is_refused_as_not_the_seeds_mlp(tmp_path):
    _require(serving.get("onnxruntime"))
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 28, 28])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 28, 28])])
    path = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    with pytest.raises(ModelFileError, match=r"not the seed's MLP .*\(2, 28, 28\)"):
        serving.get("onnxruntime").load(path)


def test_int8_is_reported_as_reduced_and_would_fail_the_float32_check(exported, truth):
    runtime = serving.get("onnxruntime-int8")
    artifact = runtime.prepare(serving.get("onnxruntime").artifact_in(exported["folder"]), exported["folder"])
    session = runtime.load(artifact)
    record = check_session(runtime, session, truth["images"], truth["labels"], truth["weights"])
    assert record["reduced"] and record["precision"] == "int8" and record["ok"] and record["within_tolerance"] is None
    assert record["max_abs_diff"] > serving.FLOAT32_TOLERANCE  # int8 is not float32 ...
    assert record["same_digit"] > 0.95  # ... but still the model
    as_float32 = check_session(serving.get("onnxruntime"), session, truth["images"], truth["labels"], truth["weights"])
    assert not as_float32["ok"] and "disagrees with the NumPy forward pass" in failure_line(as_float32, "x")


def test_openvino_float32_is_forced_and_bfloat16_is_a_case_of_its_own(exported, truth):
    from mnist_mlp.serving.openvino_runtime import _precision_name

    assert [_precision_name(t) for t in ("<Type: 'bfloat16'>", "f32", "<Type: 'float32'>")] == ["bfloat16", "float32", "float32"]
    folder = exported["folder"]
    f32 = serving.get("openvino").load(serving.get("openvino").artifact_in(folder))
    assert f32.setting["asked"] == f32.setting["in_force"] == "float32"
    bf16_runtime = serving.get("openvino-bf16")
    bf16 = bf16_runtime.load(bf16_runtime.artifact_in(folder))
    reason = bf16_runtime.unavailable_reason(bf16)
    if f32.setting["runtime_default"] != "bfloat16":  # a CPU without bfloat16 units: the case says why it measures nothing
        assert reason is not None and "bfloat16" in reason
        return
    assert reason is None and bf16.setting["in_force"] == "bfloat16"
    record = check_session(bf16_runtime, bf16, truth["images"], truth["labels"], truth["weights"])
    assert record["reduced"] and record["max_abs_diff"] > serving.FLOAT32_TOLERANCE and record["ok"]


def test_cold_start_times_a_fresh_process_to_a_correct_answer(exported, truth):
    from mnist_mlp.serving import cold

    runtime = serving.get("onnxruntime")
    artifact = runtime.artifact_in(exported["folder"])
    image, expected = truth["images"][:1], truth["probs"][:1]
    found = cold.measure("onnxruntime", artifact, image, expected, serving.FLOAT32_TOLERANCE)
    assert found["ok"] and found["correct"]
    parts = [found[k] for k in ("interpreter_s", "imports_s", "load_s", "first_call_s")]
    assert all(p > 0 for p in parts) and found["total_s"] >= sum(parts[1:])
    wrong = cold.measure("onnxruntime", artifact, image, np.roll(expected, 1, axis=1), serving.FLOAT32_TOLERANCE)
    assert not wrong["ok"] and wrong["correct"] is False
    broken = cold.measure("onnxruntime", exported["folder"] / "absent.onnx", image, expected, None)
    assert not broken["ok"] and "absent.onnx" in broken["error"]


def test_bench_runs_serving_cases_checked_and_timed_like_the_frameworks(tmp_path, data_dir):
    """The quick profile's serving cases, in their shared process: each artifact checked before it is
    timed, the runtime path in the sweep and the latency, memory recorded, int8 kept apart."""
    _require(serving.get("onnxruntime"))
    proc = run_cli("bench", "--profile", "quick", "--backends", "numpy", "--implementations", "keras",
                   "--runtimes", "onnxruntime,onnxruntime-int8", "--batch-sizes", "1,256", "--devices", "cpu",
                   "--no-gate", "--out", str(tmp_path), "--data-dir", str(data_dir),
                   env={"MNIST_MLP_BENCH_PEAK_GFLOPS": "100"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    cases = {case["id"]: case for case in run["cases"]}
    assert list(cases) == ["numpy-cpu", "onnxruntime-cpu", "onnxruntime-int8-cpu"]  # in the order named
    for name in ("onnxruntime-cpu", "onnxruntime-int8-cpu"):
        case = cases[name]
        assert case["status"] == "ok", case.get("reason")
        assert [(row["path"], row["batch_size"]) for row in case["inference"]] == [("runtime", 1), ("runtime", 256)]
        assert case["latency_ms"]["runtime"]["p50"] > 0
        assert case["memory"]["inference"]["peak_rss_bytes"] > 0
        assert case["serving"]["images"] == 10_000 and "untrained" in case["note"]
    assert cases["onnxruntime-cpu"]["serving"]["within_tolerance"] is True
    assert cases["onnxruntime-int8-cpu"]["serving"]["reduced"] is True
    # int8 quantises the float32 export its sibling wrote moments before in this process
    assert cases["onnxruntime-int8-cpu"]["serving"]["export_reused_from"] == "onnxruntime-cpu"
    assert "export_reused_from" not in cases["onnxruntime-cpu"]["serving"]
    assert cases["onnxruntime-cpu"]["cold_start"] is None  # the quick profile measures none
    report = (tmp_path / run["run_id"] / "report.md").read_text()
    assert "## Serving" in report and "onnxruntime-int8-cpu" in report
