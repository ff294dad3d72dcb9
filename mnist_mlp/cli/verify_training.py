"""``mnist-mlp verify --training``: K training steps of a backend (Keras or native) beside the NumPy reference."""

from __future__ import annotations

import argparse

from mnist_mlp.cli.inputs import load_data
from mnist_mlp.cli.output import emit
from mnist_mlp.errors import UsageError

#: said where the trainer is the NumPy reference, so its zero differences do not read as agreement
SELF_COMPARISON = ("(the reference itself: nothing to compare; this runs the NumPy reference beside itself, "
                   "so every difference is 0 by construction and shows only that its trainer runs)")


def cmd_verify_training(args: argparse.Namespace) -> int:
    """``verify --training``: K steps in the backend beside the NumPy training reference."""
    if args.precision != "fp32":
        raise UsageError("verify --training: only --precision fp32 (its tolerances were measured in FP32)")
    from mnist_mlp import backends, native

    backend = native.select(args.backend or backends.resolve_backend(None), args.device, args.implementation)

    precision = backends.get(backend).precision_policy(args.device, args.precision)
    from mnist_mlp.reference.training import AdamSettings
    from mnist_mlp.reference.verify import TOLERANCE, verify_training

    tolerance = None if args.tolerance is None else {key: args.tolerance for key in TOLERANCE}
    reference_adam = None
    if args.reference_adam:
        try:
            reference_adam = AdamSettings(**{key: float(value) for key, value in args.reference_adam})
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--reference-adam: {exc}") from None
    data = load_data(args)
    from mnist_mlp.config import TrainConfig
    from mnist_mlp.reference.verify import first_batches

    try:  # only a bad --steps is the user's; any other ValueError is a failure to see whole
        first_batches(data.x_train, data.y_train, args.steps, TrainConfig().batch_size)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    result = verify_training(backend, data.x_train, data.y_train, steps=args.steps,
                             reference_adam=reference_adam, tolerance=tolerance, implementation=args.implementation)
    label = backend if args.implementation == "keras" else f"{backend} {args.implementation}"
    lines = [f"{label} vs NumPy, {result['steps']} training steps of batch {result['batch_size']} "
             f"(largest |difference| after each step):", "step  loss      gradients  weights"]
    if result["reference_itself"]:
        lines.insert(1, SELF_COMPARISON)
    lines += [f"{r['step']:>4}  {r['loss_diff']:.2e}  {_diff(r['gradients_diff'])}   {_diff(r['weights_diff'])}"
              for r in result["per_step"]]
    worst = result["max_diff"]
    if args.implementation == "native-fast":
        lines.append("(native-fast runs the K steps as one timed epoch: losses every step, weights after the last, "
                     "gradients not observable)")
    lines.append("tolerance " + ", ".join(f"{q} {result['tolerance'][q]:g}" for q in worst) + f": {_verdict(result)}")
    emit(args, {**result, "precision": precision}, "\n".join(lines))
    return 0 if result["ok"] else 1


def _verdict(result: dict) -> str:
    """OK or MISMATCH; for the reference itself neither, since nothing was compared."""
    if result["reference_itself"]:
        return "the reference itself: nothing to compare"
    return "OK" if result["ok"] else "MISMATCH"


def _diff(value: float | None) -> str:
    """A per-step difference, or a dash where the implementation does not expose it."""
    return "   -    " if value is None else f"{value:.2e}"


def adam_setting(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` for ``--reference-adam``."""
    key, sep, value = text.partition("=")
    if not sep or key not in ("learning_rate", "beta_1", "beta_2", "epsilon"):
        raise argparse.ArgumentTypeError(f"expected learning_rate|beta_1|beta_2|epsilon=VALUE, got {text!r}")
    return key, value
