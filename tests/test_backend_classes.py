"""One Backend class per framework: planning, environment, devices and their absence, precision
policy and peak probes, with fake framework modules standing in for the GPU paths."""

from __future__ import annotations

import os
import types

import pytest

from mnist_mlp import backends
from mnist_mlp.backends import JaxBackend, TensorFlowBackend, TorchBackend
from mnist_mlp.backends.base import best_gflops
from mnist_mlp.errors import BackendUnavailable, UsageError


def test_registry_has_one_class_per_framework():
    assert backends.ALL == ("tensorflow", "jax", "torch", "numpy")
    assert list(backends.REGISTRY) == [*backends.ALL, *backends.RUNTIMES]
    assert backends.RUNTIMES == ("onnxruntime", "openvino", "litert", "savedmodel", "openvino-bf16", "onnxruntime-int8")
    assert all(isinstance(b, backends.Backend) for b in backends.REGISTRY.values())
    with pytest.raises(UsageError, match="unknown backend 'mxnet'"):
        backends.get("mxnet")


def test_planning_reasons_come_from_the_class():
    jax = backends.get("jax")
    assert jax.planning_skip_reason("cpu", installed=True, gpu_present=False) is None
    assert "not installed (pip install 'mnist-mlp[jax]')" in jax.planning_skip_reason("cpu", installed=False, gpu_present=False)
    assert jax.planning_skip_reason("gpu", installed=True, gpu_present=False).startswith("no GPU on this machine")
    assert "TF32" in jax.planning_skip_reason("cpu", "tf32", installed=True, gpu_present=True)
    assert jax.planning_skip_reason("gpu", "tf32", installed=True, gpu_present=True) is None
    assert "cpu only" in backends.get("numpy").planning_skip_reason("gpu", installed=True, gpu_present=True)


def test_environment_hides_gpus_on_cpu_and_shares_them_on_gpu(monkeypatch):
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    cpu = backends.get("torch").environment("cpu")
    assert cpu == {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    gpu = backends.get("jax").environment("gpu")
    assert gpu["JAX_PLATFORMS"] is None and gpu["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


def _fake_torch(cuda: bool, cuda_version: str | None = "12.4") -> types.SimpleNamespace:
    flags = types.SimpleNamespace(allow_tf32=False)
    return types.SimpleNamespace(
        __version__="2.13.0",
        version=types.SimpleNamespace(cuda=cuda_version),
        cuda=types.SimpleNamespace(is_available=lambda: cuda, device_count=lambda: 2 if cuda else 0,
                                   current_device=lambda: 0, synchronize=lambda: None),
        backends=types.SimpleNamespace(cuda=types.SimpleNamespace(matmul=flags), cudnn=types.SimpleNamespace(allow_tf32=False)),
    )


def _with_module(backend_class, module):
    backend = backend_class()
    backend.module = lambda: module
    return backend


def test_torch_gpu_paths_with_a_fake_module():
    torch = _with_module(TorchBackend, _fake_torch(cuda=True))
    assert torch.device_names() == ["cpu", "cuda:0", "cuda:1"]
    assert torch.require_device("gpu") == "cuda:0"
    with pytest.raises(BackendUnavailable, match="still computes on cuda:0"):
        torch.require_device("cpu")
    policy = torch.precision_policy("gpu", "tf32")
    assert policy == {"precision": "tf32", "tf32": True, "how": TorchBackend.tf32_switch}
    assert torch.module().backends.cuda.matmul.allow_tf32 is True and torch.module().backends.cudnn.allow_tf32 is True
    torch.precision_policy("gpu", "fp32")
    assert torch.module().backends.cuda.matmul.allow_tf32 is False


def test_absent_gpu_reasons_name_the_cause():
    cpu_build = _with_module(TorchBackend, _fake_torch(cuda=False, cuda_version=None))
    with pytest.raises(BackendUnavailable, match="CPU-only"):
        cpu_build.require_device("gpu")
    no_device = _with_module(TorchBackend, _fake_torch(cuda=False))
    with pytest.raises(BackendUnavailable, match="no CUDA device"):
        no_device.require_device("gpu")
    tf = _with_module(TensorFlowBackend, types.SimpleNamespace(
        __version__="2.21.0", test=types.SimpleNamespace(is_built_with_cuda=lambda: False),
        config=types.SimpleNamespace(list_physical_devices=lambda kind: [])))
    with pytest.raises(BackendUnavailable, match="no CUDA support"):
        tf.require_device("gpu")


def test_jax_precision_and_devices_with_a_fake_module():
    updates = {}
    config = types.SimpleNamespace(jax_default_matmul_precision=None, update=lambda k, v: updates.__setitem__(k, v))
    gpu = types.SimpleNamespace(platform="gpu", id=0)
    jax = _with_module(JaxBackend, types.SimpleNamespace(config=config, devices=lambda *a: [gpu]))
    assert jax.require_device("gpu") == "gpu:0"
    assert jax.precision_policy("gpu", "fp32")["tf32"] is False
    assert updates["jax_default_matmul_precision"] == "highest"
    jax.precision_policy("gpu", "tf32")
    assert updates["jax_default_matmul_precision"] == "tensorfloat32"
    assert jax.precision_policy("cpu", "fp32") == {"precision": "fp32", "tf32": False, "how": "CPU: FP32 matmuls (no TF32 on CPUs)"}
    with pytest.raises(UsageError, match="--precision"):
        jax.precision_policy("gpu", "bf16")


def test_a_failing_gpu_peak_probe_is_reported_not_raised():
    torch = _with_module(TorchBackend, _fake_torch(cuda=True))

    def out_of_memory(device, size):
        raise RuntimeError("CUDA out of memory")

    torch.matmul_probe = out_of_memory
    record = torch.probe_peak("gpu")
    assert record["gflops"] is None and "CUDA out of memory" in record["error"]
    assert torch.module().backends.cuda.matmul.allow_tf32 is False  # restored after the probe


def test_peak_probe_times_the_fastest_call(monkeypatch):
    """Calls of 1.0 (warm-up), 0.3, 0.1 and 0.2 s on a fake clock: the peak is the 0.1 s call's,
    not the mean's (0.2 s), the last's (0.2 s) or the warm-up's; each gives another number."""
    from types import SimpleNamespace

    from mnist_mlp.backends import base

    now = [0.0]
    durations = iter([1.0, 0.3, 0.1, 0.2])
    monkeypatch.setattr(base, "time", SimpleNamespace(perf_counter=lambda: now[0]))

    def matmul() -> None:
        now[0] += next(durations)

    gflops = best_gflops(matmul, size=10, repeats=3, budget_s=10.0)
    assert gflops == pytest.approx(2.0 * 10**3 / 0.1 / 1e9)
    assert gflops != pytest.approx(2.0 * 10**3 / 0.2 / 1e9)  # the mean or the last call would give this


def test_a_probe_warms_up_once_per_framework_device_and_size_in_a_process(monkeypatch):
    """The untimed warm-up pays a first call's costs; the next case's probe in a shared process starts warm."""
    from mnist_mlp.backends import base

    monkeypatch.setattr(base, "_WARM_PROBES", set())
    calls = []
    numpy_backend = backends.get("numpy")
    monkeypatch.setattr(numpy_backend, "matmul_probe", lambda device, size: lambda: calls.append(size))
    numpy_backend.peak_gflops("cpu", size=64, repeats=2, budget_s=10.0)
    assert len(calls) == 3  # warm-up and two timed
    numpy_backend.peak_gflops("cpu", size=64, repeats=2, budget_s=10.0)
    assert len(calls) == 5  # two timed, no warm-up
    numpy_backend.peak_gflops("cpu", size=32, repeats=2, budget_s=10.0)
    assert len(calls) == 8  # another size warms up again
    runtime = backends.get("onnxruntime")  # its probe is NumPy's matmul: already warm
    monkeypatch.setattr(runtime, "matmul_probe", lambda device, size: lambda: calls.append(size))
    runtime.peak_gflops("cpu", size=64, repeats=2, budget_s=10.0)
    assert len(calls) == 10


def test_numpy_probe_measures_this_cpu():
    record = backends.get("numpy").probe_peak("cpu", size=256, repeats=2)
    assert record["gflops"] > 0 and record["probe"] == "numpy FP32 matmul on cpu"


def test_select_sets_the_environment_of_the_class(monkeypatch):
    for key in ("KERAS_BACKEND", "CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(backends.get("jax"), "is_installed", lambda: True)
    backends.select("jax", "cpu")
    assert os.environ["KERAS_BACKEND"] == "jax" and os.environ["CUDA_VISIBLE_DEVICES"] == "" and os.environ["JAX_PLATFORMS"] == "cpu"


def test_a_serving_runtime_is_a_case_that_serves_an_artifact(monkeypatch):
    """The adapter answers the harness from its runtime: no training, one path, the CPU, TensorFlow's
    process in the quick profile, and the export's TensorFlow chosen before keras is imported."""
    onnx = backends.get("onnxruntime")
    assert (onnx.is_keras, onnx.trains, onnx.inference_paths, onnx.devices) == (False, False, ("runtime",), ("cpu",))
    assert onnx.process_group == backends.get("litert").process_group == "tensorflow"  # the export's Keras
    assert onnx.probe_family == "numpy"
    assert (backends.get("numpy").process_group_of("keras"), backends.get("numpy").process_group_of("native")) == ("tensorflow", "jax")
    assert backends.get("torch").process_group_of("native-fast") == "torch"
    assert "runs on cpu only" in onnx.planning_skip_reason("gpu", installed=True, gpu_present=True)
    assert "not installed (pip install 'mnist-mlp[serve]')" in onnx.planning_skip_reason("cpu", installed=False)
    assert backends.get("openvino-bf16").precision_policy("cpu", "fp32")["precision"] == "bfloat16"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    if onnx.serving_setup("cpu") is None:  # TensorFlow installed
        assert os.environ["KERAS_BACKEND"] == "tensorflow" and os.environ["CUDA_VISIBLE_DEVICES"] == ""
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert "exporting the model needs TensorFlow" in onnx.serving_setup("cpu")
