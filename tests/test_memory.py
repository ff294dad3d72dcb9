"""Memory and energy for every case: the child's per-phase peaks (``bench.memory``), the energy
counters (``bench.energy``), the frameworks' device counters, and the fields as collect, results,
the report and compare carry them. Nothing trains; the real child serves NumPy's weights only."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from fixtures.compare.runfactory import band, case, make_run, write_run
from mnist_mlp import backends, compare, results
from mnist_mlp.backends import JaxBackend, TensorFlowBackend, TorchBackend
from mnist_mlp.bench import collect, energy, memory
from mnist_mlp.bench.caseconfig import CaseConfig
from mnist_mlp.compare.judge import slower_percent
from mnist_mlp.compare.measures import bound_of, case_metrics
from mnist_mlp.errors import ResultFileError
from mnist_mlp.report import memory_text
from mnist_mlp.report.compare_text import comparison_markdown
from mnist_mlp.report.render import markdown

MIB = 2**20
ROOT = Path(__file__).resolve().parents[1]


def _proc(tmp_path: Path, hwm_kb: int, rss_kb: int) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "status").write_text(f"Name:\tpython\nVmPeak:\t 9 kB\nVmHWM:\t {hwm_kb} kB\nVmRSS:\t {rss_kb} kB\n")
    return proc


# ---------------------------------------------------------------------------- bench.memory


def test_the_reset_lowers_the_mark_after_a_big_allocation_is_freed():
    if memory.status_bytes("VmHWM") is None:
        pytest.skip("no /proc/self/status with VmHWM here (not Linux)")
    why = memory.reset_peak()
    if why is not None:
        pytest.skip(f"the high-water mark cannot be reset here: {why}")
    meter = memory.PhaseMemory("numpy", "cpu")
    assert meter.start("training")
    block = np.ones(128 * MIB // 8)  # 128 MiB, every page touched
    meter.end("training")
    held = meter.phases["training"]["peak_rss_bytes"]
    assert held - meter.phases["training"]["baseline_rss_bytes"] >= 120 * MIB
    del block
    assert memory.status_bytes("VmHWM") >= held - 8 * MIB  # freed, but the mark stays (the kernel's count
    # is exact to a few pages) until it is reset ...
    assert meter.start("inference")  # ... which the next phase does
    meter.end("inference")
    assert meter.phases["inference"]["peak_rss_bytes"] <= held - 100 * MIB
    record = meter.record()
    assert record["method"] == "vmhwm" and record["per_phase"] is True and "clear_refs" in record["how"]
    assert record["floor_bytes"] == 104_938 * 4 * 4 == 1_679_008


def test_each_phase_reads_its_own_mark_and_writes_the_reset(tmp_path):
    proc = _proc(tmp_path, hwm_kb=1000, rss_kb=600)
    (proc / "clear_refs").write_text("")
    meter = memory.PhaseMemory("jax", "cpu", proc=proc)
    assert meter.start("training") and not meter.start("training")  # once per phase
    assert (proc / "clear_refs").read_text() == "5"
    _proc(tmp_path, hwm_kb=5000, rss_kb=700)
    meter.end("training")
    _proc(tmp_path, hwm_kb=900, rss_kb=800)
    meter.start("inference")
    meter.end("inference")
    record = meter.record()
    assert record["training"] == {"peak_rss_bytes": 5000 * 1024, "baseline_rss_bytes": 600 * 1024, "device_peak_bytes": None}
    assert record["inference"] == {"peak_rss_bytes": 900 * 1024, "baseline_rss_bytes": 800 * 1024, "device_peak_bytes": None}
    assert record["device_counter"] is None and record["device_scope"] is None


def test_without_a_writable_clear_refs_ru_maxrss_stands_in_and_says_so(tmp_path):
    proc = _proc(tmp_path, hwm_kb=1000, rss_kb=600)
    (proc / "clear_refs").mkdir()  # cannot be opened for writing
    meter = memory.PhaseMemory("jax", "cpu", proc=proc)
    meter.start("training")
    meter.end("training")
    record = meter.record()
    assert record["method"] == "ru_maxrss" and record["per_phase"] is False
    assert "the process's peak so far, not the phase's" in record["how"] and "not writable" in record["how"]
    peak = record["training"]["peak_rss_bytes"]
    assert peak == memory.maxrss_bytes() and peak > 1000 * 1024  # this process's own peak, not the fake status
    assert record["inference"] is None


def test_a_skipped_phase_is_dropped_and_no_phase_records_nothing(tmp_path):
    meter = memory.PhaseMemory("numpy", "cpu", proc=_proc(tmp_path, 10, 10))
    assert meter.record() is None
    meter.start("training")
    meter.discard("training")
    assert meter.record() is None


class _FakeCuda:
    def __init__(self) -> None:
        self.peak, self.resets = 3 * MIB, 0

    def is_available(self) -> bool:
        return True

    def max_memory_allocated(self) -> int:
        return self.peak

    def reset_peak_memory_stats(self) -> None:
        self.resets += 1
        self.peak = 0


def test_a_gpu_case_reads_the_frameworks_counter_per_phase(tmp_path, monkeypatch):
    cuda = _FakeCuda()
    monkeypatch.setattr(backends.get("torch"), "module", lambda: types.SimpleNamespace(cuda=cuda))
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "clear_refs").write_text("")
    meter = memory.PhaseMemory("torch", "gpu", proc=_proc(tmp_path, 100, 50))
    meter.start("training")
    assert cuda.resets == 1  # the probe's allocations before the phase are not its peak
    cuda.peak = 7 * MIB
    meter.end("training")
    record = meter.record()
    assert record["training"]["device_peak_bytes"] == 7 * MIB
    assert record["device_counter"] == "torch.cuda.max_memory_allocated" and record["device_scope"] == "phase"


def test_a_failing_device_counter_is_no_figure_and_no_crash(tmp_path, monkeypatch):
    def broken():
        raise RuntimeError("driver gone")

    monkeypatch.setattr(backends.get("jax"), "module", broken)
    meter = memory.PhaseMemory("jax", "gpu", proc=_proc(tmp_path, 100, 50))
    meter.start("inference")
    meter.end("inference")
    record = meter.record()
    assert record["inference"]["device_peak_bytes"] is None and record["device_scope"] == "process"


# ---------------------------------------------------------------------------- Backend.peak_device_memory


def _with_module(backend_class, module):
    backend = backend_class()
    backend.module = lambda: module
    return backend


def test_each_framework_reads_its_own_peak_counter():
    cuda = _FakeCuda()
    torch = _with_module(TorchBackend, types.SimpleNamespace(cuda=cuda))
    assert torch.peak_device_memory("gpu") == 3 * MIB and cuda.resets == 0
    assert torch.peak_device_memory("gpu", reset=True) == 3 * MIB and cuda.resets == 1 and cuda.peak == 0

    stats = {"peak": 5 * MIB}
    experimental = types.SimpleNamespace(get_memory_info=lambda name: dict(stats, current=1) if name == "GPU:0" else {},
                                         reset_memory_stats=lambda name: stats.update(peak=0))
    tf = _with_module(TensorFlowBackend, types.SimpleNamespace(config=types.SimpleNamespace(experimental=experimental)))
    assert tf.peak_device_memory("gpu", reset=True) == 5 * MIB and tf.peak_device_memory("gpu") == 0

    device = types.SimpleNamespace(memory_stats=lambda: {"peak_bytes_in_use": 9 * MIB, "bytes_in_use": 1})
    jax = _with_module(JaxBackend, types.SimpleNamespace(devices=lambda kind: [device] if kind == "gpu" else []))
    assert jax.peak_device_memory("gpu", reset=True) == 9 * MIB  # no reset in JAX: the process's peak
    assert not JaxBackend.device_peak_resets and TorchBackend.device_peak_resets and TensorFlowBackend.device_peak_resets
    empty = _with_module(JaxBackend, types.SimpleNamespace(devices=lambda kind: [types.SimpleNamespace(memory_stats=lambda: None)]))
    assert empty.peak_device_memory("gpu") is None


def test_on_a_cpu_no_framework_is_asked():
    def untouchable():
        raise AssertionError("a CPU case must not import the framework for a device counter")

    for backend_class in (TorchBackend, TensorFlowBackend, JaxBackend):
        backend = backend_class()
        backend.module = untouchable
        assert backend.peak_device_memory("cpu") is None
    assert backends.get("numpy").peak_device_memory("gpu") is None and backends.get("numpy").device_peak_counter is None


# ---------------------------------------------------------------------------- bench.energy


def _zone(root: Path, name: str, label: str, microjoules: int, wrap: int = 10**9) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{microjoules}\n")
    (zone / "max_energy_range_uj").write_text(f"{wrap}\n")
    return zone


def test_rapl_counts_each_package_and_survives_a_wrap(tmp_path):
    package = _zone(tmp_path, "intel-rapl:0", "package-0", 999_000_000)
    _zone(tmp_path, "intel-rapl:0:0", "core", 5)  # inside the package's count: not read twice
    counters, why = energy.rapl_counters(tmp_path)
    assert why is None and [c.name for c in counters] == ["rapl:package-0"]
    meter = energy.EnergyMeter(counters=counters)
    assert meter.start("training")
    (package / "energy_uj").write_text("4000000\n")  # wrapped at 1,000 J: 1 J + 4 J
    meter.end("training")
    record = meter.record()
    assert record["measured"] is True and record["counters"] == ["rapl:package-0"]
    assert record["training"]["joules"]["rapl:package-0"] == pytest.approx(5.0)
    assert record["training"]["seconds"] >= 0 and record["inference"] is None


def test_without_a_counter_energy_says_why_and_estimates_nothing(tmp_path):
    assert "no RAPL counter" in energy.rapl_counters(tmp_path / "absent")[1]
    (tmp_path / "intel-rapl:0").mkdir()
    (tmp_path / "intel-rapl:0" / "energy_uj").mkdir()  # there, but unreadable
    counters, why = energy.rapl_counters(tmp_path)
    assert counters == [] and "not readable" in why
    meter = energy.EnergyMeter(counters=[], why=why)
    assert not meter.start("training")
    meter.end("training")
    assert meter.record() == {"measured": False, "why": why}
    assert "no NVML" in energy.nvml_counters("libno-such-nvml.so.1")[1]


def test_this_machine_either_counts_energy_or_says_why():
    record = energy.EnergyMeter("cpu").record()
    assert record["measured"] in (True, False)
    if not record["measured"]:
        assert record["why"] and set(record) == {"measured", "why"}


# ---------------------------------------------------------------------------- collect and results


def _memory_info(**training) -> dict:
    phase = {"peak_rss_bytes": 800 * MIB, "baseline_rss_bytes": 600 * MIB, "device_peak_bytes": None, **training}
    return {"method": "vmhwm", "per_phase": True, "how": memory.HOW["vmhwm"], "training": phase,
            "inference": {"peak_rss_bytes": 700 * MIB, "baseline_rss_bytes": 690 * MIB, "device_peak_bytes": None},
            "device_counter": None, "device_scope": None, "floor_bytes": 1, "floor": "a floor the child made up"}


def test_collect_carries_memory_and_energy_from_the_raw_json():
    raw = {"machine_info": {"memory": _memory_info(peak_rss_bytes=800.0 * MIB),
                            "energy": {"measured": False, "why": "no RAPL counter here"}}, "benchmarks": []}
    out = collect.measurements(raw)
    assert out["memory"]["training"] == {"peak_rss_bytes": 800 * MIB, "baseline_rss_bytes": 600 * MIB, "device_peak_bytes": None}
    assert isinstance(out["memory"]["training"]["peak_rss_bytes"], int)
    assert out["memory"]["inference"]["peak_rss_bytes"] == 700 * MIB
    assert out["memory"]["floor_bytes"] == 1_679_008 and "Adam's two moments" in out["memory"]["floor"]  # recomputed
    assert out["memory"]["method"] == "vmhwm" and out["memory"]["per_phase"] is True
    assert out["energy"] == {"measured": False, "why": "no RAPL counter here"}
    assert collect.measurements({"machine_info": {}, "benchmarks": []})["memory"] is None
    assert collect.measurements({"machine_info": {"memory": ["x"], "energy": "none"}})["energy"] is None
    assert collect.measurements(None)["memory"] is None


def _run_with_memory(**edits) -> dict:
    entry = case()
    entry["memory"] = collect.case_memory({"machine_info": {"memory": _memory_info()}})
    entry["energy"] = {"measured": True, "counters": ["rapl:package-0"],
                       "training": {"joules": {"rapl:package-0": 12.5}, "seconds": 3.0}, "inference": None}
    entry.update(edits)
    return make_run([entry])


@pytest.mark.parametrize("edit, problem", [
    (lambda c: c.update(memory="800 MiB"), r"cases[0].memory should be an object, got str"),
    (lambda c: c["memory"].update(training=[1]), r"cases[0].memory.training should be an object, got list"),
    (lambda c: c["memory"]["training"].update(peak_rss_bytes="800 MiB"),
     r"cases[0].memory.training.peak_rss_bytes should be a whole number of bytes, got '800 MiB'"),
    (lambda c: c["memory"]["inference"].update(baseline_rss_bytes=-4), r"cases[0].memory.inference.baseline_rss_bytes should be a whole number of bytes, got -4"),
    (lambda c: c["memory"]["training"].update(device_peak_bytes=1.5), r"cases[0].memory.training.device_peak_bytes should be a whole number of bytes, got 1.5"),
    (lambda c: c["memory"].update(floor_bytes=True), r"cases[0].memory.floor_bytes should be a whole number of bytes, got True"),
    (lambda c: c.update(energy=[]), r"cases[0].energy should be an object, got list"),
    (lambda c: c["energy"].update(measured="no"), r"cases[0].energy.measured should be true or false"),
    (lambda c: c["energy"].update(inference=3.0), r"cases[0].energy.inference should be an object with joules per counter"),
    (lambda c: c["energy"]["training"]["joules"].update({"rapl:package-0": -1.0}), r"cases[0].energy.training.joules.rapl:package-0 is negative (-1.0)"),
    (lambda c: c.update(repeats=[{"repeat": 1, "status": "ok", "memory": {"training": {"peak_rss_bytes": "x"}}}]),
     r"cases[0].repeats[0].memory.training.peak_rss_bytes should be a whole number of bytes, got 'x'"),
])
def test_results_refuse_a_malformed_memory_field_in_one_line(tmp_path, edit, problem):
    run = _run_with_memory()
    edit(run["cases"][0])
    path = tmp_path / "results.json"
    path.write_text(json.dumps(run), encoding="utf-8")
    with pytest.raises(ResultFileError) as info:
        results.load(path)
    assert str(info.value) == f"{path}: {problem}"


def test_a_good_memory_field_round_trips(tmp_path):
    run = _run_with_memory()
    results.save(run, tmp_path)
    assert results.load(tmp_path)["cases"][0]["memory"] == run["cases"][0]["memory"]


# ---------------------------------------------------------------------------- report


def _report_run() -> dict:
    run = results.load(ROOT / "tests" / "fixtures" / "results.json")
    cases = {c["id"]: c for c in run["cases"]}
    cases["jax-cpu"]["memory"] = collect.case_memory({"machine_info": {"memory": _memory_info()}})
    cases["jax-cpu"]["energy"] = {"measured": False, "why": "no RAPL counter here"}
    fallback = _memory_info()
    fallback.update(method="ru_maxrss", per_phase=False, how=memory.HOW["ru_maxrss"] + "; clear_refs not writable")
    fallback["training"] = None
    cases["numpy-cpu"]["memory"] = collect.case_memory({"machine_info": {"memory": fallback}})
    return run


def test_the_report_has_a_memory_section_before_the_machine_state():
    text = markdown(_report_run(), {})
    assert text.index("## Accuracy") < text.index("## Memory") < text.index("## Machine\n")
    section = text.split("## Memory", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in section.splitlines() if line.startswith("| ") and "MiB" not in line}
    assert rows["jax-cpu"] == ["800.0", "200.0", "700.0", "10.0", "500x"]  # 800 MiB over the 1.6 MiB floor
    assert rows["numpy-cpu"] == ["–", "–", "700.0 *", "10.0", "–"]
    assert "tensorflow-cpu" not in rows  # a case with no memory record has no row
    assert "104,938 x 4 bytes x 4 = 1.6 MiB" in section
    assert "\\* ru_maxrss (getrusage): the process's peak so far, not the phase's; clear_refs not writable." in section
    assert "Energy: not measurable here (no RAPL counter here); nothing is estimated." in section
    assert "device peak" not in section and "energy J" not in section  # no column nobody measured


def test_device_and_energy_columns_appear_where_measured():
    run = _report_run()
    jax = next(c for c in run["cases"] if c["id"] == "jax-cpu")
    jax.update(device="gpu", energy={"measured": True, "counters": ["nvml:gpu0", "rapl:package-0"],
                                     "training": {"joules": {"nvml:gpu0": 30.0, "rapl:package-0": 12.5}, "seconds": 2.0},
                                     "inference": None})
    jax["memory"].update(device_counter="jax.devices('gpu')[0].memory_stats()['peak_bytes_in_use']", device_scope="process")
    jax["memory"]["training"]["device_peak_bytes"] = 64 * MIB
    headers, rows = memory_text.table(run)
    assert headers[-3:] == ["device peak MiB (training / inference)", "training peak / floor", "energy J (training / inference)"]
    assert rows[0][5] == "64.0 / –" and rows[0][-1] == "42.5 / –"
    text = memory_text.notes(run)
    assert "peak_bytes_in_use'] (the process peak so far)" in text and "nvml:gpu0, rapl:package-0" in text


def test_a_run_without_memory_renders_as_before():
    run = results.load(ROOT / "tests" / "fixtures" / "results.json")
    assert "## Memory" not in markdown(run, {})


# ---------------------------------------------------------------------------- compare


def _with_peak(entry: dict, training_mib: float, per_phase: bool = True) -> dict:
    entry["memory"] = {"method": "vmhwm" if per_phase else "ru_maxrss", "per_phase": per_phase,
                       "training": {"peak_rss_bytes": int(training_mib * MIB), "baseline_rss_bytes": None, "device_peak_bytes": None},
                       "inference": None, "floor_bytes": memory.FLOOR_BYTES}
    return entry


def test_memory_is_a_compare_metric_where_lower_is_better(tmp_path):
    metrics = case_metrics(_with_peak(case(), 512.0))
    metric = next(m for m in metrics if m.key == "memory.training.peak_rss")
    assert metric.kind == "memory" and metric.unit == "MiB" and metrics[metric].value == 512.0
    assert bound_of(metric) == ""  # no probe of the machine's speed scales it
    assert "ru_maxrss" in case_metrics(_with_peak(case(), 512.0, per_phase=False))[metric].note
    base = write_run(tmp_path, make_run([_with_peak(case(), 500.0), _with_peak(case("torch"), 900.0)]))
    other = write_run(tmp_path, make_run([_with_peak(case(), 1000.0), _with_peak(case("torch"), 300.0)],
                                         run_id="20261128T040000Z_hostA"))
    infos = compare.load_runs([base, other])
    result = compare.compare(infos, band=band([i.run for i in infos]))
    rows = {(row.case, row.metric.key): row for row in result.rows}
    more, less = rows[("jax-cpu", "memory.training.peak_rss")], rows[("torch-cpu", "memory.training.peak_rss")]
    assert more.verdicts[1].label == "more memory" and more.verdicts[1].ratio == pytest.approx(2.0)
    assert less.verdicts[1].label == "less memory" and less.verdicts[1].per_peak is None
    assert [row.metric.key for row in result.rows if row.case == "jax-cpu"][-1] == "memory.training.peak_rss"
    assert slower_percent(more.metric, more.measures[0], more.measures[1]) is None
    assert not [line for line in result.regressions(slower_pct=1) if "memory" in line]  # no speed, no --fail-if-slower
    assert "peak resident memory, training" in comparison_markdown(result)


def test_memory_over_repeats_is_a_sample(tmp_path):
    entry = _with_peak(case(), 500.0)
    entry["repeats"] = [{"repeat": i + 1, "status": "ok", **{k: copy.deepcopy(entry[k]) for k in ("training", "inference", "peak")},
                         "memory": _with_peak({}, 500.0 + i)["memory"]} for i in range(3)]
    measure = next(v for m, v in case_metrics(entry).items() if m.key == "memory.training.peak_rss")
    assert measure.samples == [500.0, 501.0, 502.0] and measure.value == pytest.approx(501.0) and measure.source == "repeats"


# ---------------------------------------------------------------------------- the real child


def test_the_real_child_records_each_phase_of_its_own(tmp_path, data_dir):
    """The NumPy case through the real suites: its training test skips (no phase), its inference
    is measured, and the energy says what this machine has. It was to serve the weights of a case
    of its shared process that wrote none: it serves untrained weights and its note says why."""
    raw_json = tmp_path / "numpy-cpu.json"
    config = CaseConfig(case_id="numpy-cpu", backend="numpy", device="cpu", batch_sizes=(1,), latency_rounds=5,
                        weights_in=str(tmp_path / "never-written.weights.npz"), weights_from="tensorflow-cpu",
                        data_dir=str(data_dir), progress_path=str(tmp_path / "progress"),
                        outcome_path=str(tmp_path / "outcome.json")).write(tmp_path / "case.json")
    env = {**os.environ, "MNIST_MLP_BENCH_CASE": str(config), "MNIST_MLP_BENCH_PEAK_GFLOPS": "100"}
    bench = ROOT / "benchmarks"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(bench / "test_training.py"), str(bench / "test_inference.py"), "--rootdir",
         str(bench), "-p", "no:cacheprovider", "-q", "-o", "addopts=", "--benchmark-max-time=0.05",
         "--benchmark-min-rounds=1", f"--benchmark-json={raw_json}"],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = collect.measurements(json.loads(raw_json.read_text()))
    recorded = out["memory"]
    assert recorded["training"] is None  # NumPy trains nothing: no phase, not an empty one
    inference = recorded["inference"]
    assert inference["peak_rss_bytes"] >= inference["baseline_rss_bytes"] > 10 * MIB
    assert recorded["floor_bytes"] == memory.FLOOR_BYTES
    assert out["energy"]["measured"] is True or out["energy"]["why"]
    assert out["note"] == "untrained weights (tensorflow-cpu, whose trained weights this case was to serve, wrote none)"
