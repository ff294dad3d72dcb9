"""``mnist-mlp export``: the trained model as deployable artifacts, each checked the moment it exists.

Keras writes each format (``serving.export``, Keras' own ``model.export`` on TensorFlow); the
format's float32 runtime then loads it and answers for the 10,000 test images, which must be
within 1e-5 of the NumPy forward pass of the same weights and exactly as accurate as the Keras
model (``serving.check``). ``export.json`` in the output folder records every check. A format
that cannot be produced here (a converter or runtime not installed) is said in one line and the
others are still written; the exit status is 0 only if every format asked for was written and
passed its check (1: a check failed, 2: a format could not be produced).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mnist_mlp.cli import argtypes
from mnist_mlp.cli.inputs import load_data
from mnist_mlp.cli.output import emit
from mnist_mlp.errors import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK, MnistMlpError
from mnist_mlp.serving import FORMATS


def add_commands(sub: Any) -> None:
    export = sub.add_parser("export", help="write the model as ONNX, OpenVINO, LiteRT and SavedModel artifacts, each checked against NumPy")
    export.add_argument("--model", type=Path, required=True, help="a .keras file written by 'mnist-mlp train'")
    export.add_argument("--format", dest="formats", type=argtypes.choices(FORMATS, "--format"), default=FORMATS,
                        metavar=",".join(FORMATS), help="comma-separated formats (default: all four)")
    export.add_argument("--out", type=Path, required=True, help="the folder the artifacts go to (model.onnx, model.xml, ...)")
    export.add_argument("--data-dir", type=Path, help="MNIST directory (default: $MNIST_DATA_DIR, else Keras' download cache)")
    export.add_argument("--json", action="store_true", help="print the result as one JSON object on standard output")
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from mnist_mlp import atomic, backends

    backends.select("tensorflow", "cpu")  # Keras' exporters need TensorFlow; before keras is imported
    from mnist_mlp import serving
    from mnist_mlp.data import scale
    from mnist_mlp.model import load_model
    from mnist_mlp.reference.forward import weights_from_model
    from mnist_mlp.serving.check import check_session, failure_line
    from mnist_mlp.serving.export import export_model
    from mnist_mlp.train import accuracy_on

    model = load_model(args.model)
    data = load_data(args)
    images, labels = scale(data.x_test), data.y_test
    keras_accuracy = accuracy_on(model, images, labels)
    weights = weights_from_model(model)
    records, lines, status = [], [], EXIT_OK
    for fmt in args.formats:
        runtime = serving.for_format(fmt)
        try:
            runtime.require_installed()
            artifact = export_model(model, fmt, args.out)
            check = check_session(runtime, runtime.load(artifact), images, labels, weights, keras_accuracy)
        except MnistMlpError as exc:
            records.append({"format": fmt, "ok": False, "error": str(exc)})
            lines.append(f"{fmt}: cannot be produced here: {exc}")
            status = max(status, exc.exit_code if exc.exit_code != EXIT_OK else EXIT_BAD_INPUT)
            continue
        except Exception as exc:  # noqa: BLE001 - a converter's own failure is one format's, said in one line
            records.append({"format": fmt, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]})
            lines.append(f"{fmt}: cannot be produced here: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            status = max(status, EXIT_BAD_INPUT)
            continue
        check.update(artifact=str(artifact), artifact_bytes=runtime.size_of(artifact))
        records.append(check)
        problem = failure_line(check, str(artifact))
        if problem:
            status = max(status, EXIT_GATE_FAILED)
        lines.append(problem or (f"{fmt}: {artifact} ({check['artifact_bytes'] / 1e3:,.0f} kB) on {runtime.name}: max |diff| "
                                 f"{check['max_abs_diff']:.1e} from NumPy (tolerance {check['tolerance']:.0e}), test accuracy "
                                 f"{check['test_accuracy']:.2%} = Keras' {keras_accuracy:.2%}: OK"))
    payload = {"model": str(args.model), "keras_test_accuracy": keras_accuracy, "artifacts": records}
    if any("artifact" in r for r in records):
        atomic.write_json(Path(args.out) / "export.json", payload)
    emit(args, {**payload, "ok": status == EXIT_OK}, "\n".join(lines))
    return status
