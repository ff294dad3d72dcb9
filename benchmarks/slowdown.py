"""A side for ``mnist-mlp ab`` that is really slower: one framework's cases run at 1/FACTOR speed.

    mnist-mlp ab --a python --b "python benchmarks/slowdown.py --factor 2 --backend torch --"

The harness starts a side's Python with its own arguments after the side's command (``-c CODE``,
``-m mnist_mlp.bench.group_child GROUP_JSON``, ``-m pytest ...``). When the case (or group of
cases) it runs is of ``--backend``, this wrapper slows it in one of two ways:

* ``--how calls`` (the default): in the child's own process, every timed call takes FACTOR times
  its own duration (the call, then a busy wait for ``FACTOR - 1`` times what it took): each
  inference call (``bench.direct.make_callable``), each Keras training and validation step (timed
  from one batch's start to the next, so asynchronous dispatch is slowed as it runs), and each
  native epoch and evaluation. Steady per-step figures, throughput and batch-1 latency are then
  FACTOR times slower exactly, as a slower framework release would make them; what is outside
  those calls (imports, model building, the probes) is not slowed, so cold wall times grow by less.
* ``--how signals``: the child is stopped (SIGSTOP) for ``1 - 1/FACTOR`` of every ``--period``
  and continued (SIGCONT) for the rest, so every second of its work, the probes' too, takes
  FACTOR seconds of wall time on average. A call much shorter than the period is either stopped
  or not, so its median can stay unslowed: a coarse slowdown, kept for comparison.

Other backends' cases run untouched. It is how the A/B power figures are made (a slowdown of a
known size, applied to a real run), not a part of the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import runpy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable


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


def spin_for(seconds: float) -> None:
    """Busy-wait ``seconds`` (a slower computation, not a sleep the scheduler could fill)."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def slowed_call(call: Callable[..., Any], factor: float) -> Callable[..., Any]:
    """``call`` taking ``factor`` times its own duration."""

    def slow(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        out = call(*args, **kwargs)
        spin_for((factor - 1.0) * (time.perf_counter() - began))
        return out

    return slow


class StepSlowdown:
    """Keras batch-begin hooks that stretch each step to ``factor`` times the time since the last
    one began (begin hooks only: an end hook would switch off Keras' asynchronous dispatch)."""

    def __init__(self, factor: float) -> None:
        self.factor, self.last = factor, None

    def begin(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        if self.last is not None:
            spin_for((self.factor - 1.0) * (now - self.last))
        self.last = time.perf_counter()

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.begin(-1)
        self.last = None


def install_call_slowdown(factor: float) -> None:
    """Patch the suite's timed calls in this process (before the suites import them)."""
    from mnist_mlp.bench import direct, suite
    from mnist_mlp.native import base

    make_callable = direct.make_callable
    direct.make_callable = lambda *args, **kwargs: slowed_call(make_callable(*args, **kwargs), factor)

    progress_callback = suite.progress_callback

    def slowed_progress(*args: Any, **kwargs: Any) -> Any:
        callback, steps = progress_callback(*args, **kwargs), StepSlowdown(factor)
        epoch_end, test_begin, test_end = callback.on_epoch_end, callback.on_test_begin, callback.on_test_end
        callback.on_train_batch_begin = callback.on_test_batch_begin = steps.begin
        callback.on_test_begin = lambda logs=None: (steps.close(), test_begin(logs))
        callback.on_test_end = lambda logs=None: (steps.close(), test_end(logs))
        callback.on_epoch_end = lambda epoch, logs=None: (steps.close(), epoch_end(epoch, logs))
        return callback

    suite.progress_callback = slowed_progress

    fit = base.fit

    def slowed_fit(make_trainer: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def make(*a: Any, **k: Any) -> Any:
            trainer = make_trainer(*a, **k)
            trainer.epoch = slowed_call(trainer.epoch, factor)
            trainer.evaluate = slowed_call(trainer.evaluate, factor)
            return trainer

        return fit(make, *args, **kwargs)

    base.fit = slowed_fit


def run_in_process(rest: list[str]) -> int:
    """Run ``python REST`` in this process (``-m MODULE ...``, ``-c CODE`` or a script)."""
    try:
        if rest[0] in ("-m", "-c") and not os.environ.get("PYTHONSAFEPATH"):
            sys.path[0] = os.getcwd()  # as Python itself would: the working folder first on the path
        if rest[0] == "-m":
            sys.argv = [rest[1], *rest[2:]]
            runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
        elif rest[0] == "-c":
            sys.argv = ["-c", *rest[2:]]
            exec(compile(rest[1], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = list(rest)
            runpy.run_path(rest[0], run_name="__main__")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, required=True, help="how many times slower (above 1)")
    parser.add_argument("--backend", required=True, help="the backend whose cases are slowed (tensorflow, jax, torch, numpy)")
    parser.add_argument("--how", choices=("calls", "signals"), default="calls",
                        help="slow every timed call in the child (default), or stop and continue the whole child")
    parser.add_argument("--period", type=float, default=0.01, help="--how signals: seconds of one stop-and-continue cycle (default 0.01)")
    parser.add_argument("--python", default=sys.executable, help="the Python to start (default: this one)")
    own, rest = sys.argv[1:], []
    if "--" in own:
        own, rest = own[: own.index("--")], own[own.index("--") + 1:]
    options = parser.parse_args(own)
    if not options.factor > 1.0:
        parser.error("--factor: must be above 1")
    if not rest:
        parser.error("nothing to run: give the Python arguments after --, as mnist-mlp ab does")
    if options.how == "calls":
        if options.backend in backends_of(rest):
            install_call_slowdown(options.factor)
        return run_in_process(rest)
    child = subprocess.Popen([options.python, *rest])
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: child.send_signal(signum))
    if options.backend in backends_of(rest):
        return throttle(child, options.factor, options.period)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
