"""benchmarks/profile_native.py writes what it prints (``--out FILE``), so a figure quoted from it
can be committed with its output.

A tiny run (60 steps, real torch profiler and JAX scans) with the peak probes replaced by fixed
numbers (they are seconds of full-CPU matmuls); no figure of it means anything but its shape.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from mnist_mlp.backends import JaxBackend, TorchBackend

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "profile_native.py"


@pytest.fixture
def script(monkeypatch):
    for key in ("JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES"):  # the script's setdefault, undone after the test
        monkeypatch.setenv(key, os.environ.get(key, ""))
    monkeypatch.setattr(TorchBackend, "peak_gflops", lambda self, device, **kw: 100.0)
    monkeypatch.setattr(JaxBackend, "peak_gflops", lambda self, device, **kw: 200.0)
    spec = importlib.util.spec_from_file_location("profile_native", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_out_writes_the_printed_figures_as_json(script, tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "profile.json"
    assert script.main(["--steps", "60", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["command"] == f"python benchmarks/profile_native.py --steps 60 --out {out}"
    torch, jax = record["torch"], record["jax"]
    assert f"{torch['ms_per_step']:.3f} ms/step over 60 steps" in printed
    assert torch["table"] in printed and torch["peak_gflops"] == 100.0
    operators = torch["operators"]
    assert operators and all(op["name"] in torch["table"] for op in operators[:5])
    assert [op["self_cpu_us"] for op in operators] == sorted((op["self_cpu_us"] for op in operators), reverse=True)
    assert 0 < sum(op["self_cpu_share"] for op in operators) <= 1.0 + 1e-9
    assert [form["form"] for form in jax["forms"]] == ["Keras Adam step (native-fast)", "forward + backward + SGD",
                                                       "forward + loss only"]
    for form in jax["forms"]:
        assert f"{form['form']:32s} {form['ms_per_step']:.4f} ms  ({form['floor_multiple']:.1f}x" in printed
    assert f"FLOP floor of a step: {jax['floor_ms']:.4f} ms at 200 GFLOP/s" in printed
