"""Start one case's child process, watch its clock, and stop it cleanly.

The child runs in its own session (process group), so a timeout or a Ctrl-C stops it and every
process it started, and a crash of the child (a segfault, an OOM kill) is only that case's
failure. Its output goes to a log file whose tail becomes the case's ``stderr_tail``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger(__name__)

#: how long a stopped child gets between SIGTERM and SIGKILL
GRACE_S = 3.0
POLL_S = 0.2
TAIL_CHARS = 4000


@dataclass
class ChildResult:
    """How a child ended: ``exited`` (with returncode), ``timeout`` or ``interrupted``."""

    ending: str
    returncode: int | None
    seconds: float


class ChildInterrupted(Exception):
    """Ctrl-C arrived while a child ran; the child is already stopped."""

    def __init__(self, result: ChildResult) -> None:
        super().__init__("interrupted")
        self.result = result


def run_child(
    argv: Sequence[str], *, env: dict[str, str], timeout: float, log_path: Path,
    on_poll: Callable[[float], None] | None = None, cwd: str | Path | None = None,
) -> ChildResult:
    """Run ``argv`` to completion, or stop it after ``timeout`` seconds or on Ctrl-C."""
    started = time.perf_counter()
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            list(argv), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True,
        )
        try:
            while True:
                try:
                    returncode = proc.wait(timeout=POLL_S)
                    return ChildResult("exited", returncode, time.perf_counter() - started)
                except subprocess.TimeoutExpired:
                    pass
                elapsed = time.perf_counter() - started
                if elapsed > timeout:
                    stop(proc)
                    return ChildResult("timeout", proc.returncode, time.perf_counter() - started)
                if on_poll is not None:
                    on_poll(elapsed)
        except KeyboardInterrupt:
            stop(proc)
            raise ChildInterrupted(ChildResult("interrupted", proc.returncode, time.perf_counter() - started)) from None
        except BaseException:
            stop(proc)
            raise


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it has not ended within ``GRACE_S``."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # a second Ctrl-C: go straight to SIGKILL
            continue
    log.warning("child %d did not stop", proc.pid)


def tail(path: Path, chars: int = TAIL_CHARS) -> str:
    """The last ``chars`` characters of a log (decoded leniently)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - chars * 2))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return text[-chars:]


def describe_returncode(returncode: int | None) -> str:
    if returncode is None:
        return "did not exit"
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return {
        1: "some benchmarks failed (pytest exit 1)",
        2: "pytest was interrupted or misused (exit 2)",
        3: "internal error in pytest (exit 3)",
        4: "pytest usage error (exit 4)",
        5: "no benchmarks collected (pytest exit 5)",
    }.get(returncode, f"exit status {returncode}")
