"""SIGTERM treated as Ctrl-C: how a batch scheduler's stop reaches the harness's interrupt path.

Schedulers (Slurm, PBS, Kubernetes, systemd) end a job with SIGTERM and, after a grace period,
SIGKILL. Left to its default, SIGTERM killed ``bench`` at once: the running case stayed
``running`` and nothing was said. While ``bench`` runs, ``StopSignals`` turns SIGTERM into
``Terminated``, a ``KeyboardInterrupt``, so every place that already handles Ctrl-C (stop the
child, mark its case ``interrupted``, save, write the reports) handles it too, and remembers which
signal came so the reason and the exit code say so: 130 for Ctrl-C (128 + SIGINT), 143 for
SIGTERM (128 + SIGTERM), the shell's conventions, so a scheduler's log reads as it expects.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from mnist_mlp.errors import EXIT_INTERRUPTED, EXIT_TERMINATED

#: the signals the harness stops on, as they are named in reasons
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: handled exactly as a Ctrl-C is."""


class StopSignals:
    """While active (main thread only): SIGTERM raises ``Terminated``; ``received`` remembers the
    signal that stopped the run (SIGINT when a plain KeyboardInterrupt came)."""

    received: int | None = None

    def __enter__(self) -> "StopSignals":
        StopSignals.received = None
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGTERM, self._raise)
            except (ValueError, OSError):
                self._previous = None
        return self

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        StopSignals.received = signum
        raise Terminated()

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def note(signum: int) -> None:
    """Remember a signal that a deferring handler caught (it did not raise)."""
    if StopSignals.received is None or signum == signal.SIGTERM:
        StopSignals.received = signum


def reason() -> str:
    """Why a case or run was interrupted, naming the signal."""
    if StopSignals.received == signal.SIGTERM:
        return "interrupted by SIGTERM (a scheduler or kill stopped the run)"
    return "interrupted by the user (Ctrl-C)"


def exit_code() -> int:
    return EXIT_TERMINATED if StopSignals.received == signal.SIGTERM else EXIT_INTERRUPTED


class DeferredInterrupt:
    """Hold a Ctrl-C (or SIGTERM) back until the block ends (``hit`` says one came), so a save is never cut short.

    Only in the main thread (where Python delivers SIGINT); elsewhere it defers nothing.
    """

    def __enter__(self) -> "DeferredInterrupt":
        self.hit = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._note)
                self._previous_term = signal.signal(signal.SIGTERM, self._note)
            except (ValueError, OSError):
                self._previous = None
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.hit = True
        note(signum)

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            signal.signal(signal.SIGTERM, self._previous_term)
