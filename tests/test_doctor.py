"""``mnist-mlp doctor``: the real probes once (every framework in its own child), the rest with fakes.

The real run checks what the issue asks of this machine: three backends, each with a CPU device,
every GPU case skipped with its reason (where there is no GPU), and JSON that parses. The other
tests replace the probe (``doctor.probe_backend``) or the install check (``backends.is_installed``)
so they cost milliseconds: a missing backend shows its pip command, a bad data directory is
reported rather than crashed on, and nothing runnable means exit 1.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from conftest import run_cli
from mnist_mlp import backends, doctor
from mnist_mlp.cli.main import main
from mnist_mlp.report.doctor_text import render_text

BACKENDS = ("tensorflow", "jax", "torch")


def _cpu_only_probe(backend: str, timeout: float = 0) -> dict:
    return {"version": "9.9", "devices": [{"id": "cpu:0", "kind": "cpu", "name": "cpu"}],
            "cuda_runtime": None, "error": None, "probe_seconds": 0.0}


@pytest.fixture
def fake_probe(monkeypatch):
    """Every installed backend answers with one CPU device, without starting a framework."""
    monkeypatch.setattr(doctor, "probe_backend", _cpu_only_probe)


@pytest.fixture
def no_gpu(monkeypatch, tmp_path):
    """A machine without nvidia-smi or /dev/nvidia0, whatever this one has."""
    monkeypatch.setattr(backends, "gpu_hardware_present", lambda: False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))


# --------------------------------------------------------------------------- the real probes, once


@pytest.fixture(scope="module")
def real_report(data_dir):
    proc = run_cli("doctor", "--json", "--data-dir", str(data_dir))
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["exit_code"] == proc.returncode
    return report


def test_real_doctor_lists_three_backends_with_a_cpu_each(real_report):
    assert list(real_report["backends"]) == list(BACKENDS)
    for name, entry in real_report["backends"].items():
        if not backends.is_installed(name):
            assert entry["install_command"] == f"pip install 'mnist-mlp[{name}]'"
            continue
        assert entry["error"] is None, entry
        assert entry["version"], name
        assert any(device["kind"] == "cpu" for device in entry["devices"]), entry
        assert entry["can_run"] is True
    assert real_report["exit_code"] == 0
    assert real_report["data"]["ok"] is True, real_report["data"]
    assert real_report["data"]["train"] == 60_000


def test_real_doctor_says_why_each_gpu_case_is_skipped(real_report):
    cases = {case["case"]: case for case in real_report["cases"]}
    # what the default bench plans: every implementation of every framework, NumPy's two, and the
    # serving runtimes installed here
    runtimes = {f"{name}-cpu" for name in backends.RUNTIMES if backends.get(name).is_installed()}
    assert set(cases) == ({f"{b}-{d}{form}" for b in BACKENDS for d in ("cpu", "gpu") for form in ("", "-native", "-native-fast")}
                          | {"numpy-cpu", "numpy-cpu-native"} | runtimes)
    assert "onnxruntime-cpu" in runtimes or not backends.get("onnxruntime").is_installed()
    assert cases["numpy-cpu"]["action"] == "run"
    for name in BACKENDS:
        gpu = cases[f"{name}-gpu"]
        sees_gpu = any(device["kind"] == "gpu" for device in real_report["backends"][name]["devices"])
        if sees_gpu:
            assert gpu["action"] == "run" and gpu["reason"] is None, gpu
        else:
            assert gpu["action"] == "skip" and gpu["reason"], gpu
        if not real_report["cuda"]["gpu_hardware"]:
            assert gpu["reason"].startswith("no GPU on this machine")
    text = render_text(real_report)
    for name in BACKENDS:
        assert name in text
    assert "exit 0" in text


# --------------------------------------------------------------------------- with fakes


def test_a_missing_backend_shows_its_pip_command(monkeypatch, fake_probe, no_gpu, capsys):
    monkeypatch.setattr(backends, "is_installed", lambda name: name == "jax")
    report = doctor.diagnose(data_dir=None)
    torch = report["backends"]["torch"]
    assert torch["installed"] is False and torch["can_run"] is False
    assert torch["install_command"] == "pip install 'mnist-mlp[torch]'"
    assert report["can_run"] == ["jax"] and report["exit_code"] == 0
    cases = {case["case"]: case for case in report["cases"]}
    assert cases["torch-cpu"]["action"] == "skip"
    assert "pip install 'mnist-mlp[torch]'" in cases["torch-cpu"]["reason"]
    assert cases["jax-cpu"]["action"] == "run"
    assert "not installed: pip install 'mnist-mlp[tensorflow]'" in render_text(report)


def test_nothing_runnable_exits_1(monkeypatch, fake_probe, no_gpu, data_dir, capsys):
    monkeypatch.setattr(backends, "is_installed", lambda name: False)
    assert main(["doctor", "--json", "--data-dir", str(data_dir)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["can_run"] == [] and report["exit_code"] == 1
    for case in report["cases"]:
        if case["backend"] != "numpy":
            assert case["action"] == "skip" and "pip install" in case["reason"], case
    assert main(["doctor", "--data-dir", str(data_dir)]) == 1
    assert "no backend can run here (exit 1)" in capsys.readouterr().out


def test_a_bad_data_dir_is_reported_not_crashed_on(tmp_path, fake_probe, no_gpu, capsys):
    missing = tmp_path / "nowhere"
    assert main(["doctor", "--json", "--data-dir", str(missing)]) == 0  # the backends still run
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["ok"] is False and data["origin"] == "--data-dir"
    assert str(missing) in data["problem"] and "does not exist" in data["problem"]

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (broken / name).write_bytes(b"not an IDX file")
    data = doctor.check_data(broken)
    assert data["ok"] is False and str(broken) in data["problem"]
    assert main(["doctor", "--data-dir", str(broken)]) == 0
    assert "PROBLEM: " in capsys.readouterr().out


def test_without_a_data_dir_it_never_downloads(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    data = doctor.check_data(None)
    assert data["ok"] is False and data["origin"] == "keras cache"
    assert "download" in data["problem"] and "MNIST_DATA_DIR" in data["problem"]
    assert not (tmp_path / "keras-home").exists()


def test_a_probe_that_fails_or_hangs_is_a_reason_not_a_crash(monkeypatch):
    monkeypatch.setattr(doctor, "_CHILD_CODE", "import sys; sys.exit('ImportError: libcudart.so.12 not found')")
    failed = doctor.probe_backend("jax")
    assert "importing jax failed" in failed["error"] and "libcudart.so.12" in failed["error"]
    monkeypatch.setattr(doctor, "_CHILD_CODE", "import time; time.sleep(60)")
    hung = doctor.probe_backend("jax", timeout=0.5)
    assert hung["error"] == "jax did not list its devices within 0.5 s"
    verdicts = {c["case"]: c for c in doctor.case_verdicts({"jax": {**hung, "devices": []}})}
    assert verdicts["jax-cpu"]["action"] == "fail" and verdicts["jax-cpu"]["reason"] == hung["error"]


def test_on_a_gpu_shaped_machine_the_gpu_cases_run_where_the_framework_sees_one(monkeypatch):
    """A fake GPU machine: JAX sees cpu and gpu, torch only its cpu; jax-gpu runs, torch-gpu is
    skipped with the CUDA build to install. On this CPU-only machine the real test cannot show it."""
    monkeypatch.setattr(backends, "gpu_hardware_present", lambda: True)

    def probe(backend: str, timeout: float = 0) -> dict:
        devices = [{"id": "cpu:0", "kind": "cpu", "name": "cpu"}]
        if backend == "jax":
            devices.append({"id": "cuda:0", "kind": "gpu", "name": "NVIDIA H100 80GB HBM3"})
        return {"version": "9.9", "devices": devices, "cuda_runtime": "12.4" if backend == "jax" else None,
                "error": None, "probe_seconds": 0.0}

    report = {name: {**probe(name), "can_run": True} for name in BACKENDS}
    verdicts = {c["case"]: c for c in doctor.case_verdicts(report)}
    assert verdicts["jax-gpu"]["action"] == "run" and verdicts["jax-gpu"]["reason"] is None
    assert verdicts["torch-gpu"]["action"] == "skip"
    assert "torch sees no GPU here" in verdicts["torch-gpu"]["reason"]
    assert "pip install 'mnist-mlp[gpu-torch]'" in verdicts["torch-gpu"]["reason"]
    assert all(verdicts[f"{name}-cpu"]["action"] == "run" for name in BACKENDS)


def test_a_gpu_the_framework_cannot_see_names_the_gpu_install(monkeypatch, tmp_path, fake_probe):
    """With a (fake) NVIDIA driver but CPU-only frameworks, GPU cases say how to get the CUDA build."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'case "$1" in --query-gpu*) echo "NVIDIA H100 80GB HBM3, 81559, 550.54.15";;\n'
        '  *) echo "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |";; esac\n'
    )
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    cuda = doctor.check_cuda()
    assert cuda["driver"] == "550.54.15" and cuda["cuda_driver_version"] == "12.4"
    assert cuda["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
    report = doctor.check_backends()
    verdicts = {c["case"]: c for c in doctor.case_verdicts(report)}
    for name in BACKENDS:
        if backends.is_installed(name):
            assert verdicts[f"{name}-gpu"]["action"] == "skip"
            assert f"pip install 'mnist-mlp[gpu-{name}]'" in verdicts[f"{name}-gpu"]["reason"]
            assert verdicts[f"{name}-cpu"]["action"] == "run"
