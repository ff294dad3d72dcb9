"""The report: tables and figures drawn from a stored results file (tests/fixtures/results.json).

The fixture holds round numbers (jax-cpu trains in 14 and 16 s, NumPy serves 800,000 samples/s
at batch 10000 ...) so the Markdown can be checked for the exact figures a reader would see.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mnist_mlp import results
from mnist_mlp.cli.main import main
from mnist_mlp.report import tables
from mnist_mlp.report.render import FIGURES, render_report

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run() -> dict:
    return results.load(FIXTURE)


def assert_png(path: Path) -> None:
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] > 200 and image.size[1] > 200


def test_fixture_is_a_valid_results_file(run):
    assert run["schema_version"] == 1 < results.SCHEMA_VERSION  # an older file still loads and renders
    assert {case["status"] for case in run["cases"]} == {"ok", "skipped", "failed"}


def test_report_holds_the_expected_numbers(run, tmp_path):
    written = render_report(run, tmp_path)
    text = (tmp_path / "report.md").read_text()
    for expected in (
        "| 14.00 ",             # jax-cpu training wall seconds, cold seed 0 (never averaged with the warm one)
        "| 16.00 ",             # jax-cpu training wall seconds, warm seed 1
        "30.00",                # torch-cpu, one seed
        "| 5.50 ",              # jax-cpu time to 97.5% validation accuracy, cold seed 0
        "| 4.00 ",              # jax-cpu time to 97.5% validation accuracy, warm seed 1
        "1.500",                # steady s/epoch (epochs 2..3)
        "1.000",                # steady ms/step: 1.5 s / 1500 steps
        "97.23%",               # jax-cpu mean test accuracy
        "800,000",              # NumPy at batch 10000: 10000 / 0.0125 s
        "2.50e-07",             # agreement of jax-cpu with the reference
        "3.125",                # jax-cpu predict p99 latency
        "no GPU on this machine",
        "killed by signal SIGKILL",
        "simulated crash in the fixture",
        "Example CPU 3000",
        "200.0 GFLOP/s",
        "weights trained by jax-cpu",
    ):
        assert expected in text, expected
    for name in ("## Training", "## Inference throughput", "## Batch-1 latency", "## Accuracy",
                 "## Agreement with the NumPy reference", "## Machine"):
        assert name in text
    for name, figure in FIGURES.items():
        # data-parallel runs only (tests/test_parallel.py); native cases only (tests/test_native_bench.py); open division
        # only (tests/test_race.py); serving cases only (tests/test_serving_report.py)
        if name in ("scaling", "keras_cost", "time_to_accuracy", "serving"):
            assert figure not in text
            continue
        assert f"]({figure})" in text
        assert_png(tmp_path / figure)
    assert tmp_path / "report.md" in written


def test_header_says_when_training_used_a_subset(run):
    from mnist_mlp.report.render import markdown

    assert "training images only" not in markdown(run, {})  # the seed workload: nothing to say
    run["workload"]["train"]["train_samples"] = 10_000
    header = next(line for line in markdown(run, {}).splitlines() if line.startswith("- workload:"))
    assert header.startswith("- workload: 3 epochs on the first 10,000 training images only (a smoke run")


def test_time_to_target_not_reached_is_said(run):
    headers, rows = tables.training_table(run)
    torch = next(row for row in rows if row[0] == "torch-cpu")
    assert torch[headers.index("cold time to 97.50% s")] == "not reached"
    assert torch[headers.index("warm time to 97.50% s")] == "– (one seed)"


def test_inference_table_percent_of_peak(run):
    headers, rows = tables.inference_table(run)
    numpy_row = next(row for row in rows if row[0] == "numpy-cpu" and row[2] == "10000")
    # 800,000 samples/s x 209,536 FLOPs = 167.6 GFLOP/s = 83.8% of the 200 GFLOP/s peak
    assert numpy_row[headers.index("GFLOP/s")] == "167.63"
    assert numpy_row[headers.index("% of peak")] == "83.8%"


def test_missing_values_show_a_dash(run):
    headers, rows = tables.summary_table(run)
    skipped = next(row for row in rows if row[0] == "jax-gpu")
    assert skipped[headers.index("train wall s cold")] == tables.DASH
    assert "None" not in tables.render((headers, rows))


def test_summary_wall_time_is_cold_and_warm_apart(run):
    """The Summary once averaged the cold seed 0 with the warm seeds; each now has its column."""
    headers, rows = tables.summary_table(run)
    for case in run["cases"]:
        training = case.get("training")
        if case["status"] != "ok" or not training:
            continue
        row = next(r for r in rows if r[0].startswith(case["id"]))
        walls = [seed["wall_seconds"] for seed in training["per_seed"]]
        assert row[headers.index("train wall s cold")] == f"{walls[0]:,.2f}"
        warm = walls[1:]
        if len(warm) > 1:
            assert row[headers.index("train wall s warm")].startswith(f"{sum(warm) / len(warm):,.2f} ± ")
        elif not warm:
            assert row[headers.index("train wall s warm")] == f"{tables.DASH} (one seed)"


def test_no_figure_without_data(run, tmp_path):
    for case in run["cases"]:
        case.update(training=None, inference=[], confusion_matrix=None)
    render_report(run, tmp_path)
    assert not list(tmp_path.glob("*.png"))
    assert "## Summary" in (tmp_path / "report.md").read_text()


def test_report_command_redraws_from_results(tmp_path, capsys):
    shutil.copy(FIXTURE, tmp_path / "results.json")
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "jax-cpu" in out and "report.md" in out
    assert_png(tmp_path / "throughput.png")


def test_report_command_refuses_a_bad_file(tmp_path, capsys):
    data = json.loads(FIXTURE.read_text())
    data["cases"][1]["training"]["per_seed"][0]["test_accuracy"] = 1.5
    (tmp_path / "results.json").write_text(json.dumps(data))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "outside [0, 1]" in err
    assert not (tmp_path / "report.md").exists()


def test_report_command_missing_file(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "not found" in capsys.readouterr().err


def test_training_agreement_table_beside_the_forward_one(run, tmp_path):
    """A case's ``verify --training`` record becomes a row with its largest differences and verdict."""
    jax = next(case for case in run["cases"] if case["id"] == "jax-cpu")
    jax["training_agreement"] = {
        "steps": 5, "ok": False, "tolerance": {"loss": 3e-5, "gradients": 5e-6, "weights": 5e-6},
        "max_diff": {"loss": 2.4e-07, "gradients": 3.7e-08, "weights": 1.5e-03}, "per_step": [],
    }
    headers, rows = tables.training_agreement_table(run)
    assert rows == [["jax-cpu", "5", "2.40e-07", "3.70e-08", "1.50e-03", "MISMATCH (tolerance 5.00e-06 on weights)"]]
    render_report(run, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "## Training agreement with the NumPy reference" in text and "1.50e-03" in text
    jax["training_agreement"] = {"skipped": "this case runs tf32"}
    assert tables.training_agreement_table(run)[1][0][-1] == "not run: this case runs tf32"
