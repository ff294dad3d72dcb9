"""A side for ``mnist-mlp ab`` that is really slower: one framework's cases run at 1/FACTOR speed.

    mnist-mlp ab --a python --b "python benchmarks/slowdown.py --factor 2 --backend torch --"

The harness starts a side's Python with its own arguments after the side's command (``-c CODE``,
``-m mnist_mlp.bench.group_child GROUP_JSON``, ``-m pytest ...``); this wrapper starts that Python
and, when the case (or group of cases) it runs is of ``--backend``, throttles it: the child is
stopped (SIGSTOP) for ``1 - 1/FACTOR`` of every ``--period`` and continued (SIGCONT) for the rest,
so every second of its work takes FACTOR seconds of wall time: its imports, training steps and
inference calls alike. Other backends' cases run untouched. It is how the A/B power figures are
made (a slowdown of a known size, applied to a real run), not a part of the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def backends_of(args: list[str]) -> set[str]:
    """The backends of the cases ``args`` would run: a group child's JSON, or the case file named
    by ``$MNIST_MLP_BENCH_CASE`` (a child per case); empty for anything else (``-c`` questions)."""
    found: set[str] = set()
    if "mnist_mlp.bench.group_child" in args:
        group = json.loads(Path(args[args.index("mnist_mlp.bench.group_child") + 1]).read_text())
        for entry in group["cases"]:
            found.add(json.loads(Path(entry["case_json"]).read_text())["backend"])
    elif os.environ.get("MNIST_MLP_BENCH_CASE") and "pytest" in args:
        found.add(json.loads(Path(os.environ["MNIST_MLP_BENCH_CASE"]).read_text())["backend"])
    return found


def throttle(child: subprocess.Popen, factor: float, period: float) -> int:
    """Stop and continue ``child`` so it runs ``1/factor`` of the time, until it exits."""
    running = period / factor
    stopped = period - running
    while True:
        try:
            return child.wait(timeout=running)
        except subprocess.TimeoutExpired:
            pass
        try:
            child.send_signal(signal.SIGSTOP)
            time.sleep(stopped)
        finally:
            child.send_signal(signal.SIGCONT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, required=True, help="how many times slower (above 1)")
    parser.add_argument("--backend", required=True, help="the backend whose cases are slowed (tensorflow, jax, torch, numpy)")
    parser.add_argument("--period", type=float, default=0.01, help="seconds of one stop-and-continue cycle (default 0.01)")
    parser.add_argument("--python", default=sys.executable, help="the Python to start (default: this one)")
    own, rest = sys.argv[1:], []
    if "--" in own:
        own, rest = own[: own.index("--")], own[own.index("--") + 1:]
    options = parser.parse_args(own)
    if not options.factor > 1.0:
        parser.error("--factor: must be above 1")
    child = subprocess.Popen([options.python, *rest])
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: child.send_signal(signum))
    if options.backend in backends_of(rest):
        return throttle(child, options.factor, options.period)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
