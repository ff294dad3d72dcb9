"""The two sides of an A/B session: each a command that starts a Python with the suite installed.

``mnist-mlp ab --a CMD --b CMD`` runs every case on both sides; a side is whatever the user types
to start a Python: a venv's ``python``, another checkout's, another framework version's, or
``env VAR=... python``. Before the session each side is asked once (``describe_side``) where its
benchmark suites are, which commit of the suite it is and which package versions it has, so its
children run its own ``benchmarks/`` and its run records its own software. A side that cannot
start, or has no suite, is refused in one line naming the option.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_mlp.bench.child import SAFE_PATH
from mnist_mlp.errors import UsageError

#: what a side prints about itself (runs inside the side's own Python)
_ASK = (
    "import json, mnist_mlp; "
    "from mnist_mlp.bench import machine, runner; "
    "from mnist_mlp import backends; "
    "print(json.dumps({'bench_dir': str(runner.find_benchmarks_dir()), 'version': mnist_mlp.__version__, "
    "'commit': machine.git_commit(runner.find_benchmarks_dir().parent)[0], "
    "'software': backends.package_versions()}))"
)
#: seconds a side may take to say where its suite is (imports only, no framework)
ASK_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Side:
    """One side: its label (A or B), the command as typed, its words, and what it said of itself."""

    label: str
    command: str
    argv: tuple[str, ...]
    bench_dir: Path
    facts: dict[str, Any] = field(default_factory=dict)


def parse_command(label: str, command: str) -> tuple[str, ...]:
    """The side's command split as a shell would (``env X=1 /venv/bin/python``); UsageError if empty."""
    try:
        words = tuple(shlex.split(command))
    except ValueError as exc:
        raise UsageError(f"--{label.lower()} {command!r}: cannot split the command ({exc})") from None
    if not words:
        raise UsageError(f"--{label.lower()}: give the command that starts a Python with the suite installed")
    return words


def describe_side(label: str, command: str) -> Side:
    """Ask the side's Python where its suite is and what it runs; UsageError (one line) when it cannot say."""
    argv = parse_command(label, command)
    try:
        done = subprocess.run([*argv, "-c", _ASK], capture_output=True, text=True, timeout=ASK_TIMEOUT_S,
                              env={**os.environ, "PYTHONWARNINGS": "ignore", **SAFE_PATH})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--{label.lower()} {command!r}: cannot start it ({exc})") from None
    last = (done.stdout.strip().splitlines() or [""])[-1]
    try:
        facts = json.loads(last) if done.returncode == 0 else None
    except ValueError:
        facts = None
    if not isinstance(facts, dict) or "bench_dir" not in facts:
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise UsageError(f"--{label.lower()} {command!r}: not a Python with mnist-mlp and its benchmarks ({why})")
    return Side(label, command, argv, Path(facts["bench_dir"]), facts)
