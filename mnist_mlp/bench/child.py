"""Start one case's child process, watch its clock, and stop it cleanly.

The child runs in its own session (process group), so a timeout or a Ctrl-C stops it and every
process it started, and a crash of the child (a segfault, an OOM kill) is only that case's
failure. Its output goes to a log file whose tail becomes the case's ``stderr_tail``.

A child never outlives the parent, even one killed outright (SIGKILL, the OOM killer): being in
its own session it gets no Ctrl-C or hang-up from the terminal, so two guards end it instead.
On Linux the kernel sends it SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``, set in
the child between fork and exec, see ``_die_with_parent``). Everywhere, the child may call
``watch_parent`` (the benchmark suites do, in ``benchmarks/conftest.py``): a thread that sees the
parent gone (``os.getppid()`` changed, named in ``$MNIST_MLP_BENCH_PARENT_PID``) and kills the
child's whole process group, which also takes any process the child started. The death signal
follows the thread that started the child, so ``run_child`` belongs in a thread that lives as
long as the run (the runner calls it from the main thread).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger(__name__)

#: how long a stopped child gets between SIGTERM and SIGKILL
GRACE_S = 3.0
POLL_S = 0.2
TAIL_CHARS = 4000
#: the parent's pid, set in every child's environment for ``watch_parent``
PARENT_ENV = "MNIST_MLP_BENCH_PARENT_PID"
#: how often ``watch_parent`` looks whether the parent is still there
WATCH_S = 0.5
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class ChildResult:
    """How a child ended: ``exited`` (with returncode), ``timeout`` or ``interrupted``."""

    ending: str
    returncode: int | None
    seconds: float


#: every child's Python imports the suite its own side installed, not the checkout the current
#: directory happens to be: ``python -m`` and ``-c`` put the current directory first on
#: ``sys.path`` (ahead of ``PYTHONPATH`` and an editable install), so ``ab`` or
#: ``benchmarks/quick_wall.py`` started in one checkout ran that checkout's code on both sides
SAFE_PATH = {"PYTHONSAFEPATH": "1"}

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
    env = {**env, PARENT_ENV: str(os.getpid())}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            list(argv), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent(os.getpid()),
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


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when ``parent`` dies (None elsewhere).

    ``prctl`` is looked up here, before the fork; the function only calls it. Should the parent
    die between the fork and the ``prctl``, the child sees a new parent and exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        log.info("prctl unavailable: the child relies on its own parent watchdog")
        return None
    option, sig = ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(int(signal.SIGKILL))

    def preexec() -> None:
        prctl(option, sig)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def watch_parent(poll_s: float = WATCH_S) -> threading.Thread | None:
    """In a case's child: SIGKILL its process group as soon as the runner that started it is gone.

    A no-op unless this process was started by ``run_child`` (``$MNIST_MLP_BENCH_PARENT_PID`` is
    set and this process leads its own process group), so ``pytest benchmarks/`` by hand, or a
    process the child starts, never kills anything. A daemon thread; returns it (None: not
    watching).
    """
    try:
        parent = int(os.environ.get(PARENT_ENV, ""))
    except ValueError:
        return None
    if os.getpgrp() != os.getpid():
        return None

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        try:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        finally:
            os._exit(1)

    thread = threading.Thread(target=watch, name="mnist-mlp-parent-watchdog", daemon=True)
    thread.start()
    return thread


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
