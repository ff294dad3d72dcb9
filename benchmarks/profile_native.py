"""Where a native training step's time goes, for the two goals the benchmark missed (issue 17).

    python benchmarks/profile_native.py [--steps 1500]

* torch (``TorchNative``, eager): ``torch.profiler`` over one epoch of batch-32 steps; the table
  groups the time by operator, so the share of the ~30 small eager kernels and of Python's
  per-step work (autograd bookkeeping, the per-parameter Adam loop) shows.
* JAX (``JaxNativeFast``, one ``lax.scan`` per epoch): the same scanned epoch timed whole, then
  with the Adam update removed (SGD) and with the backward pass removed (forward and loss only),
  each against the FLOP floor of a step at the FP32 matmul peak probed beside it.

Weights are glorot-uniform arrays drawn here (the timing does not depend on their values); the
data is random in [0, 1]. It prints; nothing is written. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import os
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


def floor_ms(weights: list[np.ndarray], peak_gflops: float) -> float:
    return BATCH * FlopModel.from_weights(weights).train_per_sample / (peak_gflops * 1e9) * 1e3


def torch_profile(steps: int, weights, x, y) -> None:
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
    print(f"torch native (eager): {per_step:.3f} ms/step over {steps} steps, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads" + (f"; FLOP floor {floor_ms(weights, peak):.4f} ms at {peak:.0f} GFLOP/s" if peak else ""))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.epoch(order[: 300 * BATCH])
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def jax_breakdown(steps: int, weights, x, y) -> None:
    import jax
    import jax.numpy as jnp

    from mnist_mlp.native import jax_native

    params = [jnp.asarray(w) for w in weights]
    xs, ys = jnp.asarray(x[: steps * BATCH]).reshape(steps, BATCH, -1), jnp.asarray(y[: steps * BATCH].astype(np.int32)).reshape(steps, BATCH)
    adam_step = jax_native.make_step(AdamSettings())

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
    print(f"\njax {jax.__version__}, one lax.scan over {steps} steps of batch {BATCH}, ms per step (best of 3):")
    for label, step in (("Keras Adam step (native-fast)", adam_step), ("forward + backward + SGD", sgd_step),
                        ("forward + loss only", forward_step)):
        run = scanned(step)
        jax.block_until_ready(run(state0, xs, ys))
        best = min(_timed(lambda: jax.block_until_ready(run(state0, xs, ys))) for _ in range(3))
        ms = best / steps * 1e3
        print(f"  {label:32s} {ms:.4f} ms  ({ms / floor_ms(weights, peak):.1f}x the FLOP floor of a full step)")
    print(f"  FLOP floor of a step: {floor_ms(weights, peak):.4f} ms at {peak:.0f} GFLOP/s (JAX's FP32 matmul probe)")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="batch-32 steps per timed epoch (default 1500, one epoch)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    weights = glorot(rng)
    x = rng.random((args.steps * BATCH, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.steps * BATCH)
    torch_profile(args.steps, weights, x, y)
    jax_breakdown(args.steps, weights, x, y)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
