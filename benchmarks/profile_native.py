"""Where a native training step's time goes, for the two goals the benchmark missed (issue 17).

    python benchmarks/profile_native.py [--steps 1500] [--out profile.json]

* torch (``TorchNative``, eager): ``torch.profiler`` over one epoch of batch-32 steps; the table
  groups the time by operator, so the share of the ~30 small eager kernels and of Python's
  per-step work (autograd bookkeeping, the per-parameter Adam loop) shows.
* JAX (``JaxNativeFast``, one ``lax.scan`` per epoch): the same scanned epoch timed whole, then
  with the Adam update removed (SGD) and with the backward pass removed (forward and loss only),
  each against the FLOP floor of a step at the FP32 matmul peak probed beside it.

Weights are glorot-uniform arrays drawn here (the timing does not depend on their values); the
data is random in [0, 1]. It prints its figures and, with ``--out FILE``, writes the same figures
as JSON (the operator table as rows, each operator's share of the profiled self CPU time beside
it), so a figure quoted from it can be committed with it. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

from mnist_mlp.flops import FlopModel  # noqa: E402
from mnist_mlp.reference.training import AdamSettings  # noqa: E402

SHAPES = ((784, 128), (128, 32), (32, 10))
BATCH = 32


def glorot(rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for fan_in, fan_out in SHAPES:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        out += [rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32), np.zeros(fan_out, np.float32)]
    return out


def floor_ms(weights: list[np.ndarray], peak_gflops: float | None) -> float | None:
    """The FLOP floor of one training step in ms at ``peak_gflops`` (None without a peak)."""
    if not peak_gflops:
        return None
    return BATCH * FlopModel.from_weights(weights).train_per_sample / (peak_gflops * 1e9) * 1e3


def operator_rows(averages, limit: int = 18) -> list[dict]:
    """``torch.profiler``'s key averages as rows, heaviest self CPU time first, each with its share
    of the profiled self CPU time (the figure the README used to quote without an output)."""
    total = sum(event.self_cpu_time_total for event in averages) or 1.0
    ordered = sorted(averages, key=lambda event: event.self_cpu_time_total, reverse=True)[:limit]
    return [{"name": event.key, "calls": int(event.count), "self_cpu_us": float(event.self_cpu_time_total),
             "cpu_total_us": float(event.cpu_time_total), "self_cpu_share": float(event.self_cpu_time_total) / total}
            for event in ordered]


def torch_profile(steps: int, weights, x, y) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from mnist_mlp.backends import get
    from mnist_mlp.native.torch_native import TorchNative

    trainer = TorchNative(weights, AdamSettings(), x, y, BATCH, device="cpu")
    order = np.arange(steps * BATCH)
    trainer.epoch(order[: 50 * BATCH])  # warm-up
    started = time.perf_counter()
    trainer.epoch(order)
    per_step = (time.perf_counter() - started) / steps * 1e3
    peak = get("torch").peak_gflops("cpu")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.epoch(order[: 300 * BATCH])
    averages = prof.key_averages()
    return {"trainer": "TorchNative", "version": torch.__version__, "threads": torch.get_num_threads(), "steps": steps,
            "ms_per_step": per_step, "peak_gflops": peak, "floor_ms": floor_ms(weights, peak),
            "profiled_steps": min(steps, 300), "operators": operator_rows(averages),
            "table": averages.table(sort_by="self_cpu_time_total", row_limit=18)}


def torch_text(result: dict) -> str:
    floor = result["floor_ms"]
    return (f"torch native (eager): {result['ms_per_step']:.3f} ms/step over {result['steps']} steps, torch "
            f"{result['version']}, {result['threads']} threads"
            + (f"; FLOP floor {floor:.4f} ms at {result['peak_gflops']:.0f} GFLOP/s" if floor else "")
            + "\n" + result["table"])


def jax_breakdown(steps: int, weights, x, y) -> dict:
    import jax
    import jax.numpy as jnp

    from mnist_mlp.native import jax_native

    params = [jnp.asarray(w) for w in weights]
    xs, ys = jnp.asarray(x[: steps * BATCH]).reshape(steps, BATCH, -1), jnp.asarray(y[: steps * BATCH].astype(np.int32)).reshape(steps, BATCH)
    keras_step = jax_native.make_step(AdamSettings())

    def adam_step(state, xb, yb):  # the trainers' step at Keras' default rate, a constant here: a profile never changes it
        return keras_step(state, xb, yb, jnp.float32(AdamSettings().learning_rate))

    def sgd_step(state, xb, yb):
        (loss, _), grads = jax.value_and_grad(jax_native.keras_loss, has_aux=True)(state[0], xb, yb)
        return ([w - 1e-3 * g for w, g in zip(state[0], grads)], *state[1:]), loss

    def forward_step(state, xb, yb):
        loss, _ = jax_native.keras_loss(state[0], xb, yb)
        return state, loss

    state0 = (list(params), [jnp.zeros_like(w) for w in params], [jnp.zeros_like(w) for w in params], jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))

    def scanned(step):
        return jax.jit(lambda state, xs, ys: jax.lax.scan(lambda s, b: step(s, *b), state, (xs, ys)))

    from mnist_mlp.backends import get

    peak = get("jax").peak_gflops("cpu")
    floor = floor_ms(weights, peak)
    forms = []
    for label, step in (("Keras Adam step (native-fast)", adam_step), ("forward + backward + SGD", sgd_step),
                        ("forward + loss only", forward_step)):
        run = scanned(step)
        jax.block_until_ready(run(state0, xs, ys))
        best = min(_timed(lambda: jax.block_until_ready(run(state0, xs, ys))) for _ in range(3))
        ms = best / steps * 1e3
        forms.append({"form": label, "ms_per_step": ms, "floor_multiple": ms / floor if floor else None})
    return {"trainer": "JaxNativeFast (lax.scan)", "version": jax.__version__, "steps": steps, "best_of": 3,
            "peak_gflops": peak, "floor_ms": floor, "forms": forms}


def jax_text(result: dict) -> str:
    lines = [f"jax {result['version']}, one lax.scan over {result['steps']} steps of batch {BATCH}, "
             f"ms per step (best of {result['best_of']}):"]
    for form in result["forms"]:
        multiple = form["floor_multiple"]
        lines.append(f"  {form['form']:32s} {form['ms_per_step']:.4f} ms"
                     + (f"  ({multiple:.1f}x the FLOP floor of a full step)" if multiple else ""))
    if result["floor_ms"]:
        lines.append(f"  FLOP floor of a step: {result['floor_ms']:.4f} ms at {result['peak_gflops']:.0f} GFLOP/s "
                     "(JAX's FP32 matmul probe)")
    return "\n".join(lines)


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="batch-32 steps per timed epoch (default 1500, one epoch)")
    parser.add_argument("--out", type=str, default=None, metavar="FILE",
                        help="also write the printed figures to FILE as JSON (commit it beside any figure quoted from it)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    weights = glorot(rng)
    x = rng.random((args.steps * BATCH, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.steps * BATCH)
    torch_result = torch_profile(args.steps, weights, x, y)
    print(torch_text(torch_result))
    jax_result = jax_breakdown(args.steps, weights, x, y)
    print("\n" + jax_text(jax_result))
    if args.out:
        record = {"command": " ".join(["python", "benchmarks/profile_native.py", *(sys.argv[1:] if argv is None else argv)]),
                  "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": platform.node(),
                  "python": platform.python_version(), "torch": torch_result, "jax": jax_result}
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
