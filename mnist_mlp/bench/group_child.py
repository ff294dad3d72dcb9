"""The child of a shared process: several cases of one framework, one after another, in one Python.

``python -m mnist_mlp.bench.group_child GROUP_JSON`` (started by ``bench.group``). The quick
profile is a smoke run that must finish in about a minute; importing a framework with Keras takes
3 to 7 s on a 2-core VM, paid once per process, and every implementation of a framework (Keras,
native, native-fast) was a process of its own. Here each case still gets its own pytest session
(``pytest.main`` on the same suites with the case's own settings file, its own raw JSON and
progress file): the suites' modules are imported afresh for each case, so nothing of one case's
session state reaches the next; only what Python caches across imports (the framework itself,
its compiled kernels) is shared, and each case's record says whose process it shared.

After each case a marker ``<case json>.done`` holds its pytest exit code and seconds, so the
parent can tell which cases finished when the process dies. The test hook ``$MNIST_MLP_BENCH_CHILD``
(a script taking ``CASE_JSON RAW_JSON``) is run in-process in place of pytest, as the runner
runs it in place of a child.
"""

from __future__ import annotations

import gc
import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

from mnist_mlp.bench.caseconfig import ENV_VAR as CASE_ENV_VAR

#: the suites' modules, imported afresh for every case (their module state is one case's)
SUITE_MODULES = ("conftest", "test_training", "test_inference", "test_open")
CHILD_ENV = "MNIST_MLP_BENCH_CHILD"


def done_path(case_json: str | Path) -> Path:
    return Path(str(case_json) + ".done")


def _run_one(entry: dict[str, Any], group: dict[str, Any]) -> int:
    os.environ[CASE_ENV_VAR] = entry["case_json"]
    for name in SUITE_MODULES:
        sys.modules.pop(name, None)
    script = os.environ.get(CHILD_ENV)
    if script:  # the test hook: the fake child, in this process as pytest would be
        sys.argv = [script, entry["case_json"], entry["raw_json"]]
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as stop:
            return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        return 0
    import pytest

    return int(pytest.main([*group["suites"], *group["pytest_args"], f"--benchmark-json={entry['raw_json']}"]))


def settle_heap() -> None:
    """Between two cases: collect the last case's garbage now, not in a timed phase of the next,
    then freeze what survives (the frameworks' own objects, imported once), so that later full
    collections, this one's successors and the automatic ones, no longer walk it. The first freeze
    costs one full collection (about 0.3 s with TensorFlow loaded); pytest's own collection at each
    session's end, two of them, cost that much for every case (``runner.suite_args`` turns it off)."""
    gc.collect()
    gc.freeze()


def main(argv: list[str]) -> int:
    group = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    from mnist_mlp.bench.child import watch_parent

    watch_parent()
    worst = 0
    for position, entry in enumerate(group["cases"]):
        if position:
            settle_heap()
        started = time.perf_counter()
        code = _run_one(entry, group)
        done_path(entry["case_json"]).write_text(
            json.dumps({"code": code, "seconds": time.perf_counter() - started}), encoding="utf-8")
        worst = worst or code
    return worst


if __name__ == "__main__":
    status = main(sys.argv[1:])
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)  # every result is on disk: skip the frameworks' teardown (seconds, measuring nothing)
