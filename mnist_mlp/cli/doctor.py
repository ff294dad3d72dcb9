"""``mnist-mlp doctor``: argument parsing only; the checks are in ``mnist_mlp.doctor``.

Registered by ``mnist_mlp.cli.main`` through ``add_commands``. Exit 0 when at least one Keras backend
can run on this machine, 1 when none can, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mnist_mlp.cli import argtypes
from mnist_mlp.cli.output import emit


def cmd_doctor(args: argparse.Namespace) -> int:
    from mnist_mlp import doctor
    from mnist_mlp.report.doctor_text import render_text

    report = doctor.diagnose(args.data_dir, timeout=args.timeout)
    emit(args, report, render_text(report))
    return report["exit_code"]


def add_commands(sub: Any) -> None:
    from mnist_mlp.doctor import DEFAULT_PROBE_TIMEOUT

    doctor = sub.add_parser(
        "doctor", help="what this machine offers the suite: backends, devices, threads, CUDA, data, planned cases",
        description="Probe each backend in its own process and say which benchmark cases would run here. "
        "Exit 0 when at least one backend can run, 1 when none can.",
    )
    doctor.add_argument("--data-dir", type=Path, help="MNIST directory to check (default: $MNIST_DATA_DIR, else Keras' cache)")
    doctor.add_argument("--timeout", type=argtypes.positive_float, default=DEFAULT_PROBE_TIMEOUT,
                        help=f"seconds each backend's probe may take (default {DEFAULT_PROBE_TIMEOUT:g})")
    doctor.add_argument("--json", action="store_true", help="print the findings as one JSON object on standard output")
    doctor.set_defaults(handler=cmd_doctor)
