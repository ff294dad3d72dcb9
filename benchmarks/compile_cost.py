"""What XLA's compilation costs the open division's fastest JAX trainer, and what does not remove it.

    python benchmarks/compile_cost.py --repeats 3 --out reports/open/compile-cost

Each measurement is a fresh process (a compilation cache lives as long as its process), the
kinds interleaved, ``--repeats`` of each, on the CPU:

* ``scan``: compiling JAX's native-fast epoch (``JaxNativeFast``: Keras' loss and Adam in one
  ``lax.scan`` over the 250 batches of 240 of the race's recipe), ahead of time
  (``lower().compile()``), then one epoch run, so the compilation stands beside an epoch;
* ``scan-cheap-llvm``: the same under ``XLA_FLAGS=--xla_llvm_disable_expensive_passes=true``;
* ``sgd``: compiling one plain SGD step of the same network (log-softmax cross-entropy, no Adam,
  no scan): the least a training step of this network costs XLA to compile;
* ``load-then-compile`` and ``compile-while-loading``: reading the MNIST files (as a race's clock
  does, ``load_mnist(verify=False)``) and compiling the scanned epoch, one after the other or the
  compilation on a second thread during the read: whether overlapping them hides the compilation.

Writes ``OUT/compile.json`` and ``OUT/compile.md`` (medians). Run it alone on the machine: it is a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

KINDS = ("scan", "scan-cheap-llvm", "sgd", "load-then-compile", "compile-while-loading")
CHEAP_LLVM = "--xla_llvm_disable_expensive_passes=true"
ROWS, BATCH = 60000, 240


def measure(kind: str, data_dir: str | None) -> dict:
    """One measurement of ``kind`` in this (fresh) process: seconds per part."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from mnist_mlp.native.jax_native import JaxNativeFast
    from mnist_mlp.race.runner import glorot_uniform
    from mnist_mlp.reference.training import AdamSettings

    jax.block_until_ready(jnp.ones(3) + 1)  # the backend started, outside every timing
    if kind == "sgd":
        def loss(params, x, y):
            h = x
            for w, b in zip(params[:-2:2], params[1:-2:2]):
                h = jax.nn.relu(h @ w + b)
            logits = h @ params[-2] + params[-1]
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

        step = jax.jit(lambda params, x, y: [p - 0.01 * g for p, g in zip(params, jax.grad(loss)(params, x, y))])
        params = [jnp.asarray(w) for w in glorot_uniform(0)]
        started = time.perf_counter()
        step.lower(params, jnp.zeros((BATCH, 784)), jnp.zeros(BATCH, jnp.int32)).compile()
        return {"compile_s": time.perf_counter() - started}

    adam = AdamSettings(learning_rate=0.008)
    rows = np.random.default_rng(0)

    def trainer(x, y):
        return JaxNativeFast(glorot_uniform(0), adam, x, y, BATCH)

    def compile_epoch(fast) -> float:  # ahead of time, into the jitted function's own cache
        started = time.perf_counter()
        fast._scan.lower(fast.state, fast.x_dev, fast.y_dev, np.zeros((ROWS // BATCH, BATCH), np.int32), fast.lr).compile()
        return time.perf_counter() - started

    if kind in ("scan", "scan-cheap-llvm"):
        fast = trainer(rows.integers(0, 256, (ROWS, 784), dtype=np.uint8), rows.integers(0, 10, ROWS).astype(np.int32))
        compiled = compile_epoch(fast)
        started = time.perf_counter()
        fast.epoch(rows.permutation(ROWS))
        return {"compile_s": compiled, "epoch_s": time.perf_counter() - started}

    from mnist_mlp.data import clear_cache, load_mnist

    load_mnist(data_dir)  # verified once and the files in the page cache, outside the timing
    clear_cache()
    shaped = trainer(np.zeros((ROWS, 784), np.uint8), np.zeros(ROWS, np.int32))  # the shapes a race compiles for
    started = time.perf_counter()
    if kind == "load-then-compile":
        load_mnist(data_dir, verify=False)
        loaded = time.perf_counter() - started
        compile_epoch(shaped)
    else:
        worker = threading.Thread(target=compile_epoch, args=(shaped,))
        worker.start()
        load_mnist(data_dir, verify=False)
        loaded = time.perf_counter() - started
        worker.join()
    return {"load_s": loaded, "total_s": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per kind (default 3)")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.data_dir)))
        return 0
    if args.repeats < 1:
        parser.error("--repeats: at least 1")
    if args.out is None:
        parser.error("--out is required")
    try:  # before any measurement: a folder that cannot be written would lose them all at the end
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {args.out}: cannot create it ({exc.strerror or exc})")
    from mnist_mlp.data import load_mnist
    from mnist_mlp.errors import DataError

    try:
        load_mnist(args.data_dir)  # the data checked once, before any child reads it
    except DataError as exc:
        print(f"compile_cost.py: {exc}", file=sys.stderr)
        return 1
    started, rows = time.perf_counter(), []
    for repeat in range(args.repeats):
        for kind in KINDS:
            env = {**os.environ, "JAX_PLATFORMS": "cpu"}
            env["XLA_FLAGS"] = " ".join(filter(None, (env.get("XLA_FLAGS", ""), CHEAP_LLVM if kind == "scan-cheap-llvm" else "")))
            command = [sys.executable, __file__, "--child", kind] + (["--data-dir", args.data_dir] if args.data_dir else [])
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"compile_cost.py: {kind} failed: {last}", file=sys.stderr)
                return 1
            row = {"kind": kind, "repeat": repeat + 1, **json.loads(done.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(f"repeat {repeat + 1}: {kind:>22}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k.endswith("_s")), flush=True)
    medians = {kind: {key: statistics.median(r[key] for r in rows if r["kind"] == kind)
                      for key in sorted({k for r in rows if r["kind"] == kind for k in r if k.endswith("_s")})}
               for kind in KINDS}
    command = "python benchmarks/compile_cost.py " + " ".join(sys.argv[1:] if argv is None else argv)
    doc = {"command": command, "machine": {"host": platform.node(), "processor": platform.processor(), "cpus": os.cpu_count()},
           "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": time.perf_counter() - started,
           "rows": rows, "medians": medians}
    (args.out / "compile.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    from tabulate import tabulate

    keys = ["compile_s", "epoch_s", "load_s", "total_s"]
    table = tabulate([[kind] + [f"{medians[kind][k]:.3f}" if k in medians[kind] else "–" for k in keys] for kind in KINDS],
                     headers=["kind", "compile s", "an epoch s", "reading the files s", "read and compile s"], tablefmt="github")
    (args.out / "compile.md").write_text(
        f"# What XLA's compilation costs JAX's native-fast trainer\n\nMade by `{command}` on {doc['machine']['host']} "
        f"({doc['created_utc']}, {doc['seconds']:.0f} s): medians over {args.repeats} fresh processes per kind, interleaved "
        f"(the module docstring of `benchmarks/compile_cost.py` says what each kind times).\n\n{table}\n", encoding="utf-8")
    print((args.out / "compile.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
