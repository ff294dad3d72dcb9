"""notebooks/mnist-classification.ipynb executes top to bottom, so it cannot rot.

Parameters are injected the way papermill does it: a cell tagged ``injected-parameters`` right
after the cell tagged ``parameters``, overriding it with one epoch on a slice of the training set.
The kernel is this interpreter (a kernelspec written to a temporary JUPYTER_PATH, so no user-level
kernelspec can swap in another Python), with this checkout first on PYTHONPATH.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "mnist-classification.ipynb"
KERNEL = "mnist-mlp-test"


def _read() -> "nbformat.NotebookNode":
    return nbformat.read(NOTEBOOK, as_version=4)


def _parameters_cell(nb) -> int:
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    return tagged[0]


def inject_parameters(nb, **values) -> None:
    """papermill-style: a tagged cell after the parameters cell; only names the notebook defines."""
    index = _parameters_cell(nb)
    defined = {target.id for node in ast.parse(nb.cells[index].source).body if isinstance(node, ast.Assign)
               for target in node.targets if isinstance(target, ast.Name)}
    unknown = set(values) - defined
    assert not unknown, f"the parameters cell does not define {sorted(unknown)}"
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, cell)


def test_the_notebook_is_stored_without_outputs():
    nb = _read()
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "EPOCHS = 25" in nb.cells[_parameters_cell(nb)].source


def _this_interpreter_kernel(tmp_path: Path, monkeypatch) -> None:
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "mnist-mlp tests", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _texts(nb, kind: str) -> str:
    """All stream text (``stream``) or all Markdown displays (``markdown``) of the executed notebook."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if kind == "stream" and output.output_type == "stream":
                parts.append(output.text)
            if kind == "markdown" and "text/markdown" in output.get("data", {}):
                parts.append(output.data["text/markdown"])
    return "\n".join(parts)


def test_the_notebook_runs_end_to_end(tmp_path, monkeypatch, data_dir):
    pytest.importorskip("jax")
    _this_interpreter_kernel(tmp_path, monkeypatch)
    out = tmp_path / "out"
    nb = _read()
    inject_parameters(nb, EPOCHS=1, BACKEND="jax", DEVICE="cpu", TRAIN_SUBSET=6000,
                      DATA_DIR=str(data_dir), PREDICT_INDICES=[0], OUT_DIR=str(out))
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=None, resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

    stream = _texts(nb, "stream")
    assert f"from {ROOT / 'mnist_mlp'}" in stream  # this checkout, not an installed copy
    assert "keras" in stream and "on jax" in stream
    assert "training on the first 6,000 images only" in stream
    accuracy = float(re.search(r"test accuracy: ([0-9.]+) on 10,000 images", stream).group(1))
    assert accuracy > 0.5, stream  # one epoch on 4,800 images; chance is 0.1
    assert re.search(r"test\[0\]: predicted \d \(", stream)
    for name in ("curves.png", "predict-0.png", "run/training_time.png", "run/throughput.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    images = sum("image/png" in o.get("data", {}) for cell in nb.cells for o in cell.get("outputs", []))
    assert images >= 4  # curves, one prediction, and the run's figures

    markdown = _texts(nb, "markdown")
    for case in ("tensorflow-cpu", "jax-cpu", "torch-cpu"):  # the committed reference run, side by side
        assert case in markdown
    assert "### Summary" in markdown and "### Training" in markdown
