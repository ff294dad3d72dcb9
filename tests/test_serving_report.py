"""The report's Serving section, from a run built here: every ratio recomputed from the rows it names."""

from __future__ import annotations

import pytest

from mnist_mlp.report import serving_text
from mnist_mlp.report.render import draw_figures, markdown


def _rows(path: str, speeds: dict[int, float]) -> list[dict]:
    return [{"path": path, "batch_size": b, "samples_per_second": v, "seconds_per_batch": {"median": b / v},
             "percent_of_peak": 10.0 * i} for i, (b, v) in enumerate(sorted(speeds.items()))]


def _check(runtime: str, precision: str, diff: float, accuracy: float, ok: bool = True) -> dict:
    reduced = precision != "float32"
    return {"runtime": runtime, "precision": precision, "setting": {"asked": precision, "in_force": precision},
            "max_abs_diff": diff, "test_accuracy": accuracy, "reference_accuracy": 0.98, "accuracy_change": accuracy - 0.98,
            "reduced": reduced, "within_tolerance": None if reduced else diff <= 1e-5, "ok": ok, "artifact_bytes": 421_644}


def run() -> dict:
    return {"run_id": "r", "created_utc": "2026-12-03T00:00:00Z", "status": "complete", "workload": {"train": {}}, "cases": [
        {"id": "jax-cpu", "backend": "jax", "device": "cpu", "status": "ok",
         "inference": _rows("predict", {1: 1_000.0, 10000: 200_000.0}) + _rows("direct", {1: 20_000.0, 10000: 500_000.0}),
         "latency_ms": {"predict": {"p50": 1.0}, "direct": {"p50": 0.05}},
         "cold_start": {"loads": "keras", "interpreter_s": 0.1, "imports_s": 2.5, "load_s": 1.0, "first_call_s": 0.2,
                        "total_s": 3.9, "artifact_bytes": 1_287_124, "correct": True, "ok": True}},
        {"id": "torch-cpu", "backend": "torch", "device": "cpu", "status": "ok",
         "inference": _rows("direct", {1: 30_000.0, 10000: 400_000.0}), "latency_ms": {"direct": {"p50": 0.04}}},
        {"id": "numpy-cpu", "backend": "numpy", "device": "cpu", "status": "ok",
         "inference": _rows("numpy", {1: 50_000.0, 10000: 700_000.0}), "latency_ms": {"numpy": {"p50": 0.02}}},
        {"id": "onnxruntime-cpu", "backend": "onnxruntime", "device": "cpu", "status": "ok",
         "serving": _check("onnxruntime", "float32", 1e-7, 0.98),
         "inference": _rows("runtime", {1: 80_000.0, 10000: 1_000_000.0}), "latency_ms": {"runtime": {"p50": 0.01, "p90": 0.02, "p99": 0.03}},
         "cold_start": {"loads": "onnxruntime", "interpreter_s": 0.08, "imports_s": 0.03, "load_s": 0.01, "first_call_s": 0.001,
                        "total_s": 0.12, "artifact_bytes": 421_644, "correct": True, "ok": True}},
        {"id": "openvino-bf16-cpu", "backend": "openvino-bf16", "device": "cpu", "status": "ok",
         "serving": _check("openvino-bf16", "bfloat16", 3e-3, 0.979),
         "inference": _rows("runtime", {1: 16_000.0, 10000: 900_000.0}), "latency_ms": {"runtime": {"p50": 0.06}}},
        {"id": "litert-cpu", "backend": "litert", "device": "cpu", "status": "failed",
         "serving": _check("litert", "float32", 2e-4, 0.98, ok=False), "inference": [], "latency_ms": {}},
    ]}


def _table(table) -> dict[tuple[str, str], list[str]]:
    headers, rows = table
    return {(row[0], row[1]): row for row in rows}


def test_throughput_ratios_are_over_the_fastest_reference_of_the_same_run():
    headers, rows = serving_text.throughput_table(run())
    assert headers[-3:] == ["vs Keras predict", "vs direct call", "vs NumPy"]
    by = {(row[0], row[1]): row for row in rows}
    onnx = by[("onnxruntime-cpu", "10,000")]
    # the fastest direct call at 10,000 is jax's 500k (torch: 400k); Keras predict jax's 200k; NumPy 700k
    assert onnx[2] == "1,000,000" and onnx[-3:] == [f"{1e6 / 2e5:.2f}x", f"{1e6 / 5e5:.2f}x", f"{1e6 / 7e5:.2f}x"]
    # at batch 1 the fastest direct call is torch's 30k
    assert by[("onnxruntime-cpu", "1")][-2] == f"{80_000 / 30_000:.2f}x"
    assert ("litert-cpu", "1") not in by  # a failed case with no rows has none
    assert serving_text.best_reference(run(), "direct", 10000) == (500_000.0, "jax-cpu")


def test_latency_ratios_are_the_reference_p50_over_the_case_p50():
    _, rows = serving_text.latency_table(run())
    onnx = next(row for row in rows if row[0] == "onnxruntime-cpu")
    assert onnx[1:4] == ["0.010", "0.020", "0.030"]
    assert onnx[4:] == [f"{1.0 / 0.01:.2f}x", f"{0.04 / 0.01:.2f}x", f"{0.02 / 0.01:.2f}x"]  # torch's 0.04 ms is the fastest direct


def test_the_check_keeps_reduced_precision_apart_and_shows_a_failed_float32_check():
    _, rows = serving_text.check_table(run())
    by = {row[0]: row for row in rows}
    assert by["onnxruntime-cpu"][4] == "ok" and by["onnxruntime-cpu"][1] == "float32 / float32"
    assert by["openvino-bf16-cpu"][4] == "reduced: not held to 1e-5" and by["openvino-bf16-cpu"][6] == "-0.10 pt"
    assert by["litert-cpu"][4] == "FAILED"


def test_the_section_and_figure_are_in_the_report(tmp_path):
    text = serving_text.section(run())
    assert "### Cold start" in text and "| jax-cpu " in text and "keras" in text
    assert "*direct call*: jax-cpu at batch 10,000 (500,000 samples/s), torch-cpu at batch 1 (p50 0.040 ms)" in text
    figures = draw_figures(run(), tmp_path)
    assert figures["serving"].is_file() and figures["serving"].stat().st_size > 10_000
    page = markdown(run(), figures)
    assert page.index("## Serving") < page.index("serving.png")


def test_a_run_without_serving_or_cold_start_has_no_section():
    plain = run()
    plain["cases"] = [c for c in plain["cases"] if "serving" not in c]
    plain["cases"][0].pop("cold_start")
    assert serving_text.section(plain) is None
    assert serving_text.with_serving({"Machine": "m"}, plain) == {"Machine": "m"}


@pytest.mark.parametrize("missing", ["latency_ms", "inference"])
def test_missing_figures_are_dashes_not_errors(missing):
    broken = run()
    for case in broken["cases"]:
        case[missing] = {} if missing == "latency_ms" else []
    assert serving_text.section(broken)
