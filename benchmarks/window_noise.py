"""Is a shared machine's noise per process or per moment? Time one batch-1 forward pass of the
seed's network (NumPy, 17 to 35 us) in windows spread over each of several fresh processes.

Each process times ``--windows`` windows of ``--calls`` calls, ``--gap`` seconds apart, and keeps
each window's median. Across the processes, the table gives the spread (standard deviation of the
log) of what one process would report if it measured the figure: in one window (its first), as
the median of all its windows, or as the fastest of its first K windows. On the 2-core
development VM the call alternates between two speeds, in spells of under 0.3 s to over 1 s, within every
process, so the first window's spread is that of the modes, while the fastest of a few spread
windows is nearly constant: the reason the quick profile measures inference in passes
(``Profile.passes``) and ``ab`` judges each process's best pass (``compare.paired``).

    python benchmarks/window_noise.py --out reports/calibration/window-noise

Run it alone on the machine: anything else on the cores is what it measures.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tabulate import tabulate

CHILD = """
import json, statistics, sys, time
import numpy as np
from mnist_mlp.reference.forward import NumpyMLP
rng = np.random.default_rng(0)
sizes = (784, 128, 32, 10)
weights = []
for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
    weights += [rng.standard_normal((fan_in, fan_out)).astype(np.float32), np.zeros(fan_out, np.float32)]
model, x = NumpyMLP(weights), rng.random((1, 784), dtype=np.float32)
windows, calls, gap = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
for _ in range(100):
    model(x)
medians = []
for _ in range(windows):
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - started)
    medians.append(statistics.median(times) * 1e6)
    time.sleep(gap)
print(json.dumps(medians))
"""


def spread(values: list[float]) -> float:
    return statistics.stdev(math.log(v) for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=12)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between windows")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.processes < 3 or args.windows < 5:
        parser.error("--processes 3 or more and --windows 5 or more")
    if args.calls < 1 or args.gap < 0:
        parser.error("--calls 1 or more and --gap 0 or more")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {args.out}: cannot create it ({exc.strerror or exc})")
    runs = []
    for _ in range(args.processes):
        done = subprocess.run([sys.executable, "-c", CHILD, str(args.windows), str(args.calls), str(args.gap)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            print(f"window_noise.py: a timing process failed ({why}); nothing written", file=sys.stderr)
            return 1
        runs.append(json.loads(done.stdout))
    estimators = [("one window (the first)", lambda r: r[0]), ("median of all windows", statistics.median),
                  ("fastest of the first 3", lambda r: min(r[:3])), ("fastest of the first 5", lambda r: min(r[:5])),
                  (f"fastest of all {args.windows}", min)]
    rows = [[name, f"{spread([pick(r) for r in runs]):.3f}", " ".join(f"{pick(r):.1f}" for r in runs)]
            for name, pick in estimators]
    within = statistics.fmean(spread(r) for r in runs)
    command = "python benchmarks/window_noise.py " + " ".join(
        f"--{k} {v}" for k, v in (("processes", args.processes), ("windows", args.windows), ("calls", args.calls),
                                  ("gap", args.gap), ("out", args.out)))
    (args.out / "window_noise.json").write_text(json.dumps(
        {"command": command, "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "windows_us": runs, "within_process_spread": within,
         "estimators": {name: spread([pick(r) for r in runs]) for name, pick in estimators}}, indent=1) + "\n")
    text = "\n".join([
        "# A batch-1 call's noise: per window, not per process", "",
        f"Made by `{command}` on {time.strftime('%Y-%m-%d', time.gmtime())}, alone on the machine.", "",
        f"{args.processes} fresh processes, each timing {args.windows} windows of {args.calls} calls of the seed "
        f"network's NumPy forward pass at batch 1, {args.gap:g} s apart; a window's value is its median call "
        f"(microseconds). Spread: standard deviation of the log across the processes.", "",
        f"Mean spread of the windows within one process: {within:.3f}.", "",
        tabulate(rows, headers=["what a process reports", "spread across processes", "each process's value (us)"],
                 tablefmt="github"), "",
        "Every window's value, per process: `window_noise.json`.", "",
    ])
    (args.out / "README.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
