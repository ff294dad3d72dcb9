"""Drawing a report: the figures two at a time in forked processes where that is safe, else in turn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

from mnist_mlp.report import render

_SCRIPT = """
import json, os, sys
from mnist_mlp.report import render

def fail():
    raise ValueError("this figure cannot be drawn")

assert render.can_fork(), "a process without a framework or another thread may fork"
pids = render.draw({name: (os.getpid, ()) for name in "abcd"})
try:
    render.draw({"fine": (os.getpid, ()), "broken": (fail, ())})
    raised = None
except ValueError as exc:
    raised = str(exc)
print(json.dumps({"parent": os.getpid(), "pids": pids, "raised": raised, "jax": "jax" in sys.modules}))
"""


def test_a_process_without_frameworks_draws_in_forked_processes_and_a_failure_still_raises():
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert not found["jax"]
    assert list(found["pids"]) == ["a", "b", "c", "d"]  # every job, in the order given
    assert found["parent"] not in found["pids"].values() and len(set(found["pids"].values())) <= 2
    assert found["raised"] == "this figure cannot be drawn"


def test_a_process_with_a_framework_loaded_draws_in_turn(monkeypatch):
    """A framework's own threads could hold a lock across the fork: such a process never forks."""
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch") or types.ModuleType("torch"))
    assert not render.can_fork()
    assert set(render.draw({name: (os.getpid, ()) for name in "abc"}).values()) == {os.getpid()}
