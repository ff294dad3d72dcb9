"""Peak resident memory of one case's process, its training phase and its inference phase apart.

Why this way: ``getrusage``'s ``ru_maxrss`` is the process's peak since it started, so it would
charge the imports, the peak probe's matrices and the training to the inference phase, and in the
quick profile, where one framework's cases share a process (``bench.group_child``), one case's
peak to every case after it. Linux keeps the same high-water mark as ``VmHWM`` in
``/proc/self/status`` and lowers it to the present RSS when "5" is written to
``/proc/self/clear_refs`` (Linux 4.0 and later). So each phase resets the mark when it starts,
records the RSS it starts from (``baseline_rss_bytes``: what is resident already, the framework
and the data) and reads the mark when it ends: the phase's own peak, whether the process is the
case's own or shared. Where ``clear_refs`` cannot be written (not Linux, a locked /proc),
``ru_maxrss`` stands in and the record says so: the process's peak so far, not the phase's.

On a GPU case the framework's own device counter is read beside it (``Backend.peak_device_memory``),
started afresh with the phase where the framework can (PyTorch, TensorFlow) and recorded as the
process's peak so far where it cannot (JAX; ``device_scope``).

The floor beside it is what training must hold however it is written: the parameters, their
gradients and Adam's two moments, 104,938 x 4 bytes x 4 (``FLOOR_BYTES``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from mnist_mlp.config import EXPECTED_PARAMS

log = logging.getLogger(__name__)

#: parameters, gradients and Adam's two moments, 4 bytes each: what training holds at the least
FLOOR_BYTES = EXPECTED_PARAMS * 4 * 4
FLOOR_TEXT = f"parameters, gradients and Adam's two moments: {EXPECTED_PARAMS:,} x 4 bytes x 4"
PHASES = ("training", "inference")
PROC = Path("/proc/self")
VMHWM, RU_MAXRSS = "vmhwm", "ru_maxrss"
HOW = {
    VMHWM: "VmHWM of /proc/self/status, reset at each phase's start (5 written to /proc/self/clear_refs)",
    RU_MAXRSS: "ru_maxrss (getrusage): the process's peak so far, not the phase's",
}


def status_bytes(field: str, proc: Path = PROC) -> int | None:
    """``VmHWM`` or ``VmRSS`` of ``proc``/status in bytes (the kernel writes kB); None where absent."""
    try:
        text = (proc / "status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == field and value.split() and value.split()[0].isdigit():
            return int(value.split()[0]) * 1024
    return None


def reset_peak(proc: Path = PROC) -> str | None:
    """Lower ``VmHWM`` to the present RSS; None when done, else why it could not be."""
    try:
        with open(proc / "clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError as exc:
        return f"{proc / 'clear_refs'} not writable ({exc.strerror or exc})"
    if status_bytes("VmHWM", proc) is None:
        return f"no VmHWM in {proc / 'status'}"
    return None


def maxrss_bytes() -> int | None:
    """The process's peak RSS since it started (``ru_maxrss``: kB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak if sys.platform == "darwin" else peak * 1024


class PhaseMemory:
    """The peaks of one case's phases: ``start(phase)`` as a phase's first test starts, ``end(phase)``
    as each of its tests ends (the mark only rises after the reset, so the last read is the phase's)."""

    def __init__(self, backend: str | None = None, device: str = "cpu", proc: Path = PROC) -> None:
        self.backend, self.device, self.proc = backend, device, proc
        self.method: str | None = None
        self.fallback: str | None = None  # why ru_maxrss stands in
        self.phases: dict[str, dict[str, Any]] = {}

    def start(self, phase: str) -> bool:
        """Reset the marks and note the baseline, once per phase; True when this call started it."""
        if phase in self.phases:
            return False
        why = reset_peak(self.proc)
        if self.method is None:
            self.method, self.fallback = (VMHWM, None) if why is None else (RU_MAXRSS, why)
        self.phases[phase] = {"peak_rss_bytes": None, "baseline_rss_bytes": status_bytes("VmRSS", self.proc),
                              "device_peak_bytes": None}
        self._device(reset=True)
        return True

    def end(self, phase: str) -> None:
        """The phase's peaks so far (each of its tests calls it as it ends: the last read stands)."""
        entry = self.phases.get(phase)
        if entry is None:
            return
        entry["peak_rss_bytes"] = status_bytes("VmHWM", self.proc) if self.method == VMHWM else maxrss_bytes()
        entry["device_peak_bytes"] = self._device(reset=False)

    def discard(self, phase: str) -> None:
        """Forget a phase that measured nothing (its only test was skipped)."""
        self.phases.pop(phase, None)

    def _backend(self) -> Any:
        if self.device != "gpu" or not self.backend:
            return None
        from mnist_mlp import backends
        from mnist_mlp.errors import MnistMlpError

        try:
            return backends.get(self.backend)
        except MnistMlpError:  # no Backend of that name: no device counter to read
            return None

    def _device(self, reset: bool) -> int | None:
        backend = self._backend()
        if backend is None:
            return None
        try:
            return backend.peak_device_memory(self.device, reset=reset)
        except Exception as exc:  # noqa: BLE001 - a memory counter must never take the case with it
            log.warning("%s device memory counter failed: %s", self.backend, exc)
            return None

    def record(self) -> dict[str, Any] | None:
        """What ``machine_info["memory"]`` carries to the parent (``collect.case_memory``); None
        when no phase ran."""
        if not self.phases or self.method is None:
            return None
        backend = self._backend()
        counter = getattr(backend, "device_peak_counter", None)
        return {
            "method": self.method, "per_phase": self.method == VMHWM,
            "how": HOW[self.method] + (f"; {self.fallback}" if self.fallback else ""),
            **{phase: self.phases.get(phase) for phase in PHASES},
            "device_counter": counter,
            "device_scope": None if counter is None else "phase" if backend.device_peak_resets else "process",
            "floor_bytes": FLOOR_BYTES, "floor": FLOOR_TEXT,
        }
