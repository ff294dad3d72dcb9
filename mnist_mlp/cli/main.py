"""The ``mnist-mlp`` command: parse arguments, choose the backend, call the library. Nothing else.

Every ``MnistMlpError`` becomes one line on standard error and its exit code; Ctrl-C exits 130.
Commands that touch keras select the backend first and import the keras-using modules after.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from mnist_mlp import __version__

from mnist_mlp.cli import argtypes
from mnist_mlp.cli.inputs import load_data
from mnist_mlp.cli.output import emit, run_handler
from mnist_mlp.cli.verify_training import adam_setting, cmd_verify_training
from mnist_mlp.backends.base import PRECISIONS
from mnist_mlp.config import BACKENDS, DEVICES, TrainConfig
from mnist_mlp.serving import RUNTIMES
from mnist_mlp.errors import EXIT_BAD_INPUT, UsageError
from mnist_mlp.native.base import IMPLEMENTATIONS

log = logging.getLogger("mnist_mlp")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem, with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _select(args: argparse.Namespace) -> str:
    from mnist_mlp import backends

    backend = backends.resolve_backend(args.backend)
    backends.select(backend, args.device)
    backends.require_device(backend, args.device)
    return backend


def cmd_train(args: argparse.Namespace) -> int:
    from mnist_mlp import atomic
    from mnist_mlp.results import sanitize

    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_split=args.validation_split,
        seed=args.seed,
        learning_rate=args.learning_rate,
        jit_compile=args.jit_compile,
        steps_per_execution=args.steps_per_execution,
        scale_inputs=not args.unscaled_inputs,
        train_samples=args.train_samples,
    )
    out = atomic.ensure_writable_dir(args.out)
    plan = _parallel_plan(args, config)
    backend = _select(args) if plan is None else _select_parallel(args, plan)
    data = load_data(args)
    from mnist_mlp.model import save_model
    from mnist_mlp.report.plots import plot_training_curves

    if plan is None:
        from mnist_mlp.train import train

        verbose = 0 if args.json or not sys.stdout.isatty() else "auto"
        result = train(config, data, verbose=verbose)
    else:
        from mnist_mlp.parallel.train import train_data_parallel

        result = train_data_parallel(config, plan, data, backend, args.device,
                                     equivalence_samples=args.equivalence_samples)
        config = result.config
    model_path = save_model(result.model, out / "model.keras")
    payload = {"backend": backend, "device": args.device, "data": data.source, "dataset_sha256": data.sha256}
    payload.update(result.to_dict())
    payload.update(result.extra)
    atomic.write_json(out / "history.json", sanitize(payload))
    plot_training_curves({backend: result.history}, out / "curves.png")
    payload.update(model=str(model_path), out=str(out))
    parallel = result.extra.get("data_parallel")
    summary = "" if parallel is None else (
        f"\ndata parallel on {parallel['devices']} {args.device} device(s) ({parallel['engine']}), global batch "
        f"{parallel['global_batch']} ({parallel['per_device_batch']} per device), learning rate {parallel['learning_rate']:g}; "
        f"max |weight diff| against one device after one epoch: {parallel['equivalence']['max_abs_weight_diff']:.2e}"
        + (f" [{parallel['note']}]" if parallel["note"] else "")
    )
    emit(
        args,
        payload,
        f"{backend}: {config.epochs} epochs in {result.wall_seconds:.1f} s, "
        f"test accuracy {result.test_accuracy:.2%}{summary}\nwrote {model_path}, {out / 'history.json'}, {out / 'curves.png'}",
    )
    return 0


def _parallel_plan(args: argparse.Namespace, config: TrainConfig) -> Any:
    """The data-parallel plan of ``train --data-parallel N`` (None without it)."""
    if args.data_parallel is None:
        for option, value, default in (("--scaling", args.scaling, "strong"), ("--lr-rule", args.lr_rule, "none"),
                                       ("--processes", args.processes, 1)):
            if value != default:
                raise UsageError(f"{option}: only with --data-parallel N")
        return None
    from mnist_mlp.parallel.plan import ParallelPlan

    if args.batch_size != TrainConfig().batch_size:
        raise UsageError("--batch-size: with --data-parallel the global batch follows --scaling (strong: 32, weak: 32 x N)")
    return ParallelPlan(devices=args.data_parallel, scaling=args.scaling, lr_rule=args.lr_rule,
                        base_learning_rate=config.learning_rate, processes=args.processes)


def _select_parallel(args: argparse.Namespace, plan: Any) -> str:
    from mnist_mlp import backends
    from mnist_mlp.parallel.train import prepare

    backend = backends.resolve_backend(args.backend)
    prepare(backend, args.device, plan, coordinator=args.coordinator, process_id=args.process_id)
    backends.require_device(backend, args.device)
    return backend


def cmd_evaluate(args: argparse.Namespace) -> int:
    backend = _select(args)
    from mnist_mlp.model import load_model
    from mnist_mlp.train import evaluate

    model = load_model(args.model)
    data = load_data(args)
    accuracy = evaluate(model, data)
    emit(
        args,
        {"backend": backend, "model": str(args.model), "test_accuracy": accuracy, "samples": len(data.y_test)},
        f"{backend}: test accuracy {accuracy:.2%} on {len(data.y_test):,} images",
    )
    return 0


#: verify's default tolerance per precision: FP32 round-off, or TF32's 10-bit mantissa (~1e-3 relative per product)
VERIFY_TOLERANCE = {"fp32": 1e-5, "tf32": 1e-2}


def cmd_verify(args: argparse.Namespace) -> int:
    from mnist_mlp import backends

    if args.training:
        return cmd_verify_training(args)
    if (args.backend and not backends.get(args.backend).is_keras) or args.implementation != "keras":
        raise UsageError("verify: --backend numpy and --implementation need --training (the forward check reads a Keras model)")
    if args.model is None:
        raise UsageError("verify: --model is required (or --training, which needs no model)")
    backend = _select(args)
    policy = backends.get(backend).precision_policy(args.device, args.precision)
    if args.tolerance is None:
        args.tolerance = VERIFY_TOLERANCE[policy["precision"]]
    from mnist_mlp.data import scale
    from mnist_mlp.model import load_model
    from mnist_mlp.reference.forward import verify_model

    model = load_model(args.model)
    data = load_data(args)
    result = verify_model(model, scale(data.x_test))
    ok = (
        result["max_abs_diff"] <= args.tolerance
        and result["argmax_agreement"] == 1.0
        and result["keras_params"] == result["reference_params"] == result["expected_params"]
    )
    payload = {"backend": backend, "model": str(args.model), "tolerance": args.tolerance, "precision": policy, "ok": ok, **result}
    emit(
        args,
        payload,
        f"{backend} vs NumPy on {result['samples']:,} test images: max |diff| {result['max_abs_diff']:.2e} "
        f"(tolerance {args.tolerance:g}), argmax agreement {result['argmax_agreement']:.2%}, "
        f"parameters {result['keras_params']:,} = {result['reference_params']:,}: {'OK' if ok else 'MISMATCH'}",
    )
    return 0 if ok else 1


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from mnist_mlp.predict import as_batch, load_array_file, load_image

    if not (args.index or args.image or args.array):
        raise UsageError("predict: give at least one of --index, --image or --array")
    # before anything can import keras (the data fallback does); an artifact needs no framework
    backend = args.runtime or _select(args)
    images, sources = [], []
    if args.index:
        data = load_data(args)
        for index in args.index:
            if not 0 <= index < len(data.x_test):
                raise UsageError(f"--index: {index} is outside the test set (0 to {len(data.x_test) - 1})")
            images.append(as_batch(data.x_test[index], f"test[{index}]"))
            sources.append(f"test[{index}] (label {int(data.y_test[index])})")
    for path in args.image or []:
        images.append(as_batch(load_image(path), str(path)))
        sources.append(str(path))
    for path in args.array or []:
        batch = load_array_file(path)
        images.append(batch)
        sources.extend(f"{path}[{i}]" if len(batch) > 1 else str(path) for i in range(len(batch)))
    batch = np.concatenate(images)
    if args.plot and len(batch) != 1:
        raise UsageError(f"--plot: draws one image, but {len(batch)} were given")
    from mnist_mlp.predict import predict
    from mnist_mlp.report.plots import plot_prediction

    if args.runtime:  # an exported artifact, served as a bench serving case serves it (keras never imported)
        from mnist_mlp import serving

        model = serving.get(args.runtime).load(args.model)
    else:
        from mnist_mlp.model import load_model

        model = load_model(args.model)
    predictions = predict(model, batch, sources)
    if args.plot:
        plot_prediction(batch[0], predictions[0], args.plot)
    lines = [f"{p.source}: {p.digit} ({p.confidence:.1%})" for p in predictions]
    emit(
        args,
        {"backend": backend, "runtime": args.runtime, "model": str(args.model), "predictions": [p.to_dict() for p in predictions]},
        "\n".join(lines) + (f"\nwrote {args.plot}" if args.plot else ""),
    )
    return 0


def _common(parser: argparse.ArgumentParser, *, model: bool, backend: bool = True,
            backend_choices: tuple[str, ...] = BACKENDS) -> None:
    if backend:
        parser.add_argument("--backend", choices=backend_choices, help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
        parser.add_argument("--device", choices=DEVICES, default="cpu", help="compute device (default: cpu)")
    parser.add_argument("--data-dir", type=Path, help="MNIST directory (default: $MNIST_DATA_DIR, else Keras' download cache)")
    if model:
        parser.add_argument("--model", type=Path, required=True, help="a .keras file written by 'mnist-mlp train'")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object on standard output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mnist-mlp", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"mnist-mlp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to standard error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    defaults = TrainConfig()
    train = sub.add_parser("train", help="train the seed's MLP; write model.keras, history.json, curves.png")
    _common(train, model=False)
    train.add_argument("--epochs", type=argtypes.positive_int, default=defaults.epochs)
    train.add_argument("--batch-size", type=argtypes.positive_int, default=defaults.batch_size)
    train.add_argument("--validation-split", type=argtypes.split, default=defaults.validation_split)
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    train.add_argument("--jit-compile", type=argtypes.jit, default=defaults.jit_compile, help="auto (Keras' default), true or false")
    train.add_argument("--steps-per-execution", type=argtypes.positive_int, default=defaults.steps_per_execution)
    train.add_argument(
        "--unscaled-inputs", action="store_true",
        help="feed raw 0-255 pixels instead of [0, 1]: a deliberately broken variant, to show the accuracy gate",
    )
    train.add_argument("--data-parallel", type=argtypes.positive_int, metavar="N",
                       help="train on N devices through the framework's own engine (simulated devices on a CPU)")
    train.add_argument("--scaling", choices=("strong", "weak"), default="strong",
                       help="with --data-parallel: strong keeps the global batch 32 (default); weak gives 32 to each device")
    train.add_argument("--lr-rule", choices=("none", "linear", "sqrt"), default="none",
                       help="with --scaling weak: learning rate x1, xN or x sqrt(N) (default: none)")
    train.add_argument("--processes", type=argtypes.positive_int, default=1,
                       help="with --data-parallel (JAX): the devices span this many processes/hosts")
    train.add_argument("--coordinator", metavar="HOST:PORT", help="with --processes: the address of process 0")
    train.add_argument("--process-id", type=int, default=0, help="with --processes: this process's index, 0..P-1")
    train.add_argument("--train-samples", type=argtypes.positive_int,
                       help="train on the first N training images only, validation split included (quick checks)")
    train.add_argument("--equivalence-samples", type=argtypes.positive_int, default=4096,
                       help="with --data-parallel: images of the one-epoch N-vs-1-device check (default: 4096)")
    train.add_argument("--out", type=Path, default=Path("reports/train"), help="output directory (default: reports/train)")
    train.set_defaults(handler=cmd_train)

    evaluate = sub.add_parser("evaluate", help="test-set accuracy of a saved model")
    _common(evaluate, model=True)
    evaluate.set_defaults(handler=cmd_evaluate)

    verify = sub.add_parser("verify", help="compare a backend's predictions (or, with --training, its training steps) with NumPy")
    _common(verify, model=False, backend_choices=(*BACKENDS, "numpy"))
    verify.add_argument("--model", type=Path, help="a .keras file written by 'mnist-mlp train' (the forward check needs it)")
    verify.add_argument("--training", action="store_true",
                        help="check training instead: K steps from the seeded initial weights, backend vs the NumPy reference")
    verify.add_argument("--steps", type=argtypes.positive_int, default=10, help="training steps for --training (default: 10)")
    verify.add_argument("--implementation", choices=IMPLEMENTATIONS, default="keras",
                        help="with --training: Keras' trainer (default), or the framework's own code without Keras "
                             "(native, native-fast; --backend numpy: native only)")
    verify.add_argument("--reference-adam", type=adam_setting, action="append", metavar="KEY=VALUE",
                        help="change the NumPy side's Adam (learning_rate, beta_1, beta_2, epsilon): a deliberately "
                             "wrong optimizer, to show --training catches it")
    verify.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="matmul precision on a GPU: fp32 (TF32 off, the default) or tf32 (tensor cores)")
    verify.add_argument("--tolerance", type=argtypes.non_negative_float,
                        help="largest allowed |difference| (default: 1e-5 in fp32, 1e-2 in tf32, whose matmul inputs keep 10 mantissa bits; "
                             "with --training one value for loss, gradients and weights, default 3e-5, 5e-6, 5e-6 for 10 steps, "
                             "scaled up linearly for more)")
    verify.set_defaults(handler=cmd_verify)

    predict = sub.add_parser("predict", help="digit and probabilities for single images")
    _common(predict, model=True)
    predict.add_argument("--index", type=int, action="append", help="an index into the test set (repeatable)")
    predict.add_argument("--image", type=Path, action="append", help="a PNG/JPEG file (repeatable)")
    predict.add_argument("--array", type=Path, action="append", help="a .npy file of shape (28,28) or (n,28,28)")
    predict.add_argument("--plot", type=Path, help="draw the image and its probabilities into this PNG")
    predict.add_argument("--runtime", choices=RUNTIMES,
                         help="predict with an exported artifact on this runtime (--model: model.onnx, model.xml, model.tflite, "
                              "saved_model/; made by 'mnist-mlp export') instead of a .keras model")
    predict.set_defaults(handler=cmd_predict)

    _add_extension_commands(sub)
    return parser


def _add_extension_commands(sub: Any) -> None:
    """Commands that live in their own modules (the benchmark harness, compare, gate, doctor)."""
    import importlib

    for module_name in EXTENSION_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise  # a real missing dependency inside the module
            continue  # the optional module itself is absent
        module.add_commands(sub)


#: each module has ``add_commands(subparsers)`` registering parsers with ``handler`` defaults
EXTENSION_MODULES: tuple[str, ...] = ("mnist_mlp.cli.bench", "mnist_mlp.cli.ab", "mnist_mlp.cli.compare", "mnist_mlp.cli.doctor", "mnist_mlp.cli.dashboard",
                                       "mnist_mlp.cli.export")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    return run_handler(lambda: handler(args), error_prefix="mnist-mlp: error: ", interrupted="mnist-mlp: interrupted")


if __name__ == "__main__":
    sys.exit(main())
