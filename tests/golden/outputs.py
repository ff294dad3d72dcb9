"""Render the golden outputs (report.md, gate.md, compare.md) from committed runs, as users do.

Shared by ``regenerate.py`` (writes the golden files) and ``tests/test_golden.py`` (recomputes
them and checks them byte for byte). Every output goes through ``mnist_mlp.cli.main``, so the
test follows the command line, not whichever module renders today.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reports" / "reference" / "20261129T115024Z_vm"
OUT_OF_SAMPLE = ROOT / "reports" / "calibration" / "out-of-sample" / "20261129T125624Z_vm"
THRESHOLDS = ROOT / "reports" / "calibration" / "thresholds.json"


def _cli(argv: list[str]) -> str:
    from mnist_mlp.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if code not in (0, None):
        raise RuntimeError(f"mnist-mlp {' '.join(argv)} exited {code}")
    return out.getvalue()


def _copy_run(run: Path, into: Path) -> Path:
    target = into / run.name
    target.mkdir(parents=True)
    shutil.copy2(run / "results.json", target / "results.json")
    return target


def render_all() -> dict[str, str]:
    """Golden file name -> the text the current code renders for it."""
    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for label, run in (("reference", REFERENCE), ("out_of_sample", OUT_OF_SAMPLE)):
            copy = _copy_run(run, tmp_path / label)
            _cli(["report", str(copy)])
            outputs[f"{label}.report.md"] = (copy / "report.md").read_text(encoding="utf-8")
            outputs[f"{label}.gate.md"] = _cli(["gate", str(copy), "--thresholds", str(THRESHOLDS)])
        compared = tmp_path / "compare"
        with contextlib.chdir(ROOT):  # paths relative to the checkout, so the golden file holds no machine's path
            _cli(["compare", str(REFERENCE.relative_to(ROOT)), str(OUT_OF_SAMPLE.relative_to(ROOT)), "--out", str(compared)])
        outputs["reference_vs_out_of_sample.compare.md"] = (compared / "compare.md").read_text(encoding="utf-8")
    return outputs
