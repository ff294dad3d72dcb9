"""Which torch form is fastest for the seed's step on this machine? An indicative micro-timing.

``mnist_mlp.native.torch_native.TorchNativeFast`` stays eager on the CPU and compiles
(``reduce-overhead``) on a GPU; this script measures the choice again where it runs: the plain eager
trainer, the fast form eager, and the fast form through ``torch.compile`` (default mode, plus
``reduce-overhead`` on a GPU), each over the same synthetic epoch of batch 32 after one warm-up epoch
(compilation excluded, and reported apart). Indicative only: one process, a few hundred steps, no
machine-state check; the benchmark (``mnist-mlp bench --implementations native,native-fast``) is
where figures come from.

    python benchmarks/torch_native_forms.py [--steps 300] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps per form (default 300)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    args = parser.parse_args()
    import torch

    from mnist_mlp.native.torch_native import TorchNative, TorchNativeFast
    from mnist_mlp.reference.training import AdamSettings
    from mnist_mlp.bench.suite import untrained_weights

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(0)
    n = args.steps * 32
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    forms = [("plain eager", TorchNative, {}), ("fast eager", TorchNativeFast, {"compile_mode": None}),
             ("fast compiled (default)", TorchNativeFast, {"compile_mode": "default"})]
    if device == "cuda":
        forms.append(("fast compiled (reduce-overhead)", TorchNativeFast, {"compile_mode": "reduce-overhead"}))
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} threads, {args.steps} steps of batch 32")
    for name, cls, options in forms:
        trainer = cls(untrained_weights(), AdamSettings(), x, y, 32, device=device, **options)
        started = time.perf_counter()
        trainer.epoch(np.arange(n))  # warm-up: compilation, caches
        warm = time.perf_counter() - started
        started = time.perf_counter()
        trainer.epoch(rng.permutation(n))
        seconds = time.perf_counter() - started
        print(f"{name:34s} {seconds / args.steps * 1e3:7.3f} ms/step   (warm-up epoch {warm:6.1f} s)")


if __name__ == "__main__":
    main()
