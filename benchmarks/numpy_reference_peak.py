"""How near the NumPy reference's forward pass runs to the machine's measured FP32 matmul peak.

    python benchmarks/numpy_reference_peak.py [--batch-sizes 256 1024 10000] [--max-time 2]
        [--chunks 1024 2048] [--threads N] [--profile]

All in one process, in this order:

1. the peak probe (the NumPy backend's own, ``mnist_mlp.backends``: best of 7 2048x2048 sgemm), the
   same probe the benchmark suite shows every figure against;
2. per batch size, pytest-benchmark style: each path is called once to warm up, then rounds of
   calibrated iterations (a round lasts at least ``--min-time``) run until ``--max-time`` per
   batch size, the paths alternating in a shuffled order every round so that a neighbour's
   burst of load hits all of them alike. Paths: the reference (``mnist_mlp.reference.forward.NumpyMLP``,
   once per ``--chunks`` value) and a plain three-matmul pass (``x @ W1 @ W2 @ W3``, no bias, no
   ReLU, no softmax: the most NumPy's BLAS gives this network, and the ceiling the reference
   should come near). The figure is the median seconds per call (the best round's is printed
   beside it, "(best)": the probe is a best-of-7, so that column compares like with like);
3. the peak probe again.

Each path's GFLOP/s counts the forward pass's matrix-multiply FLOPs from the layer shapes
(2 x in x out per layer: 209,536 per sample for 784-128-32-10). % of peak is judged against the
larger of the two probes: the probe is a best-of-7 already, so a probe that reads low was
disturbed, and dividing by it would flatter the figure; the larger one is the conservative
ceiling. The spread of the two probes is printed, and a run whose probes differ by more than
10% is marked unstable (as the suite marks cases): its percentages say more about the
neighbours than about NumPy. On a shared machine run it a few times and read the spread.
A figure above 100% is marked: either both probes were slowed, or the shape runs faster than
the probe's (a 1024-row batch's operands stay in cache, the probe's 2048x2048 ones do not; on
a quiet 2-core VM the plain pass at batch 1024 came to about 100% of the probe).

``--profile`` adds, per batch size, the median time of each step of the reference's chunk plan
(``NumpyMLP.plan(rows).steps``: the matmuls, bias adds, ReLUs, softmax and copies), timed one
step at a time, and the BLAS thread pools (threadpoolctl). Weights are Glorot-uniform
(``suite.untrained_weights``) and inputs uniform in [0, 1): throughput depends on the shapes,
not on the values. Before timing, the reference is checked against a float64 computation.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from mnist_mlp.cli.argtypes import positive_float, positive_int  # noqa: E402
from mnist_mlp import backends  # noqa: E402


def numpy_peak_gflops() -> float:
    """NumPy's FP32 sgemm GFLOP/s, the probe every NumPy case of the harness runs (best of 7 here)."""
    return backends.get("numpy").peak_gflops("cpu", repeats=7, budget_s=3.0)
from mnist_mlp.bench.suite import untrained_weights  # noqa: E402
from mnist_mlp.errors import EXIT_BAD_INPUT  # noqa: E402
from mnist_mlp.reference.forward import NumpyMLP  # noqa: E402
from mnist_mlp.stats import UNSTABLE_PEAK_PERCENT, probe_change_percent, probes_unstable  # noqa: E402

#: the issue's goal for the reference, in % of the measured peak
GOAL_PERCENT = 75.0


def forward_flops(weights: Sequence[np.ndarray]) -> int:
    """Matrix-multiply FLOPs of one sample's forward pass, from the layer shapes (``mnist_mlp.flops``)."""
    from mnist_mlp.flops import FlopModel

    return FlopModel.from_weights(weights).forward_per_sample


def calibrate(fn: Callable[[], object], min_time: float) -> int:
    """Iterations per round so that a round lasts at least ``min_time`` (as pytest-benchmark does)."""
    iterations = 1
    while True:
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        if time.perf_counter() - start >= min_time or iterations >= 1 << 20:
            return iterations
        iterations *= 2


def time_alternating(
    paths: dict[str, Callable[[], object]], *, max_time: float, min_time: float, min_rounds: int = 5
) -> dict[str, list[float]]:
    """Seconds per call of every path, one sample per round; the paths alternate, shuffled per round."""
    for fn in paths.values():
        fn()  # warm-up: buffers allocated, pages touched
    iterations = {name: calibrate(fn, min_time) for name, fn in paths.items()}
    samples: dict[str, list[float]] = {name: [] for name in paths}
    order = list(paths)
    shuffle = random.Random(0).shuffle
    deadline = time.perf_counter() + max_time
    while len(samples[order[0]]) < min_rounds or time.perf_counter() < deadline:
        shuffle(order)
        for name in order:
            fn, n = paths[name], iterations[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return samples


def profile_steps(mlp: NumpyMLP, x: np.ndarray, *, max_time: float) -> list[tuple[str, float]]:
    """Median seconds of each step of the reference's plan for one chunk of ``x``, timed one by one."""
    rows = mlp.chunk_rows(len(x))
    plan = mlp.plan(rows)
    chunk, out = x[:rows].reshape(rows, -1), np.empty((rows, mlp.layers[-1][0].shape[1]), dtype=np.float32)
    plan.run(chunk, out)
    times: list[list[float]] = [[] for _ in plan.steps]
    deadline = time.perf_counter() + max_time
    while len(times[0]) < 5 or time.perf_counter() < deadline:
        for index, (_, step) in enumerate(plan.steps):
            start = time.perf_counter()
            step(chunk, out)
            times[index].append(time.perf_counter() - start)
    return [(name, statistics.median(t)) for (name, _), t in zip(plan.steps, times)]


def check_against_float64(mlp: NumpyMLP, weights: Sequence[np.ndarray], x: np.ndarray) -> float:
    """Largest absolute difference of the reference's probabilities from a float64 computation."""
    w = [a.astype(np.float64) for a in weights]
    h = x.reshape(len(x), -1).astype(np.float64)
    for index in range(0, len(w) - 2, 2):
        h = np.maximum(h @ w[index] + w[index + 1], 0.0)
    z = h @ w[-2] + w[-1]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return float(np.abs(mlp(x) - p).max())


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem, with exit code 2 (as ``mnist-mlp``)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = _Parser(prog="numpy_reference_peak.py", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=positive_int, nargs="+", default=[256, 1024, 10000])
    parser.add_argument("--max-time", type=positive_float, default=2.0, help="seconds of rounds per batch size (default 2)")
    parser.add_argument("--min-time", type=positive_float, default=0.005, help="shortest round in seconds (default 0.005)")
    parser.add_argument("--chunks", type=positive_int, nargs="+", default=None,
                        help=f"the reference's chunk sizes to compare (default its CHUNK, {NumpyMLP.CHUNK})")
    parser.add_argument("--threads", type=positive_int, default=None, help="limit the BLAS thread pool (threadpoolctl)")
    parser.add_argument("--profile", action="store_true", help="also time each step of the reference's plan")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)  # for the rest of the process, probes included
    weights = untrained_weights()
    flops = forward_flops(weights)
    chunks = args.chunks or [NumpyMLP.CHUNK]
    models = {}
    for chunk in chunks:
        mlp = NumpyMLP(weights)
        mlp.CHUNK = chunk
        models[f"reference chunk {chunk}" if args.chunks else "reference"] = mlp
    w1, w2, w3 = (w for w in weights if w.ndim == 2)
    x_all = np.random.default_rng(0).random((max(args.batch_sizes), 28, 28), dtype=np.float32)
    check_x = x_all[: min(len(x_all), 2048)]
    for name, mlp in models.items():
        print(f"{name}: max |p - p_float64| = {check_against_float64(mlp, weights, check_x):.2e} on {len(check_x)} rows")
    if args.profile:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(f"thread pool: {pool.get('internal_api')} {pool.get('version')}, {pool.get('num_threads')} threads")

    peak_before = numpy_peak_gflops()
    results: list[tuple[int, str, float, float]] = []  # batch, path, median s, best round's s
    for batch in args.batch_sizes:
        x = x_all[:batch]
        flat = x.reshape(batch, -1)
        paths: dict[str, Callable[[], object]] = {name: (lambda m=mlp: m(x)) for name, mlp in models.items()}
        paths["plain 3 matmuls"] = lambda: flat @ w1 @ w2 @ w3
        samples = time_alternating(paths, max_time=args.max_time, min_time=args.min_time)
        for name, times in samples.items():
            median = statistics.median(times)
            results.append((batch, name, median, min(times)))
        if args.profile:
            mlp = next(iter(models.values()))
            steps = profile_steps(mlp, x, max_time=min(1.0, args.max_time))
            total = sum(seconds for _, seconds in steps)
            rows = mlp.chunk_rows(batch)
            print(f"\nbatch {batch}: steps of one chunk of {rows} rows ({-(-batch // rows)} chunk(s)), median each")
            for name, seconds in steps:
                print(f"  {name:22s} {seconds * 1e6:10.1f} us  {seconds / total:6.1%}")
            print(f"  {'sum of steps':22s} {total * 1e6:10.1f} us")
    peak_after = numpy_peak_gflops()

    peak = max(peak_before, peak_after)
    spread = probe_change_percent(peak_before, peak_after)
    stable = f"UNSTABLE (probes differ by more than {UNSTABLE_PEAK_PERCENT:.0f}%)" if probes_unstable(peak_before, peak_after) else "stable"
    print(f"\npeak probe before {peak_before:.1f}, after {peak_after:.1f} GFLOP/s: spread {spread:.1f}%, {stable};"
          f" judged against the larger, {peak:.1f} GFLOP/s ({flops:,} FLOPs per sample)")
    print(f"{'batch':>6} {'path':24s} {'ms/call':>9} {'samples/s':>11} {'GFLOP/s':>8} {'% peak':>7} "
          f"{'(best)':>7} {'% plain':>8}")
    plain = {batch: median for batch, name, median, _ in results if name == "plain 3 matmuls"}
    for batch, name, median, best in results:
        rate = batch / median
        gflops = rate * flops / 1e9
        percent = 100.0 * gflops / peak
        if percent > 100.0:
            goal = "  ABOVE THE PROBED PEAK: both probes disturbed, or a cache-resident shape beating the probe"
        elif name.startswith("plain"):
            goal = ""
        else:
            goal = "  goal met" if percent >= GOAL_PERCENT else f"  below the {GOAL_PERCENT:.0f}% goal"
        best_percent = 100.0 * batch / best * flops / 1e9 / peak
        print(f"{batch:6d} {name:24s} {median * 1e3:9.3f} {rate:11,.0f} {gflops:8.1f} {percent:6.1f}% "
              f"{best_percent:6.1f}% {100.0 * plain[batch] / median:7.1f}%{goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
