"""Energy of each phase of a case, read from the hardware's own counters where the machine has them.

Why counters and nothing else: a joule figure is only worth printing if something measured it.
RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``: microjoules per CPU package, on Intel and
recent AMD CPUs under Linux, wrapping at ``max_energy_range_uj``) and NVML on an NVIDIA GPU
(``nvmlDeviceGetTotalEnergyConsumption``: millijoules since the driver loaded, Volta and later)
count what the hardware drew; a phase's energy is the difference over the phase, of the whole
package or board (other processes' share included: the case's load record says how busy the
machine was). Where neither can be read (a VM usually has no powercap zone; many kernels make
``energy_uj`` root-only since CVE-2020-8694), the record is ``{"measured": false, "why": ...}``.
An estimate from a TDP table would be a guess passed off as a measurement, so none is made.
"""

from __future__ import annotations

import ctypes
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

POWERCAP = Path("/sys/class/powercap")
#: a package's zone (``intel-rapl:0``), not its sub-zones (``intel-rapl:0:0``, inside the package's count)
ZONE = re.compile(r"intel-rapl:\d+")
NVML_LIBRARY = "libnvidia-ml.so.1"


@dataclass(frozen=True)
class Counter:
    """One energy counter: its name (``rapl:package-0``, ``nvml:gpu0``), a read in joules, and the
    value it wraps at (None: it does not within a run)."""

    name: str
    read: Callable[[], float]
    wrap_joules: float | None = None


def _read_number(path: Path) -> float:
    return float(path.read_text(encoding="ascii").strip())


def rapl_counters(root: Path = POWERCAP) -> tuple[list[Counter], str | None]:
    """The readable RAPL package counters, and why there are none where there are none."""
    zones = sorted(p for p in root.glob("intel-rapl*") if ZONE.fullmatch(p.name)) if root.is_dir() else []
    if not zones:
        return [], f"no RAPL counter ({root} has no intel-rapl zone; a VM usually exposes none)"
    counters, problems = [], []
    for zone in zones:
        try:
            _read_number(zone / "energy_uj")
        except (OSError, ValueError) as exc:
            problems.append(f"{zone / 'energy_uj'} not readable ({getattr(exc, 'strerror', None) or exc})")
            continue
        try:
            name = (zone / "name").read_text(encoding="ascii").strip() or zone.name
            wrap = _read_number(zone / "max_energy_range_uj") / 1e6
        except (OSError, ValueError):
            name, wrap = zone.name, None
        counters.append(Counter(f"rapl:{name}", lambda path=zone / "energy_uj": _read_number(path) / 1e6, wrap))
    return counters, None if counters else "; ".join(problems) + " (RAPL is root-only on many kernels)"


def nvml_counters(library: str = NVML_LIBRARY) -> tuple[list[Counter], str | None]:
    """Every NVIDIA GPU's energy counter through NVML (the driver's library, no Python package)."""
    try:
        nvml = ctypes.CDLL(library)
        if nvml.nvmlInit_v2() != 0:
            return [], "NVML did not initialise"
        count = ctypes.c_uint()
        if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
            return [], "NVML counted no GPU"
    except (OSError, AttributeError) as exc:
        return [], f"no NVML ({exc})"
    counters = []
    for index in range(count.value):
        handle = ctypes.c_void_p()
        if nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) != 0:
            continue

        def read(handle: Any = handle) -> float:
            millijoules = ctypes.c_ulonglong()
            code = nvml.nvmlDeviceGetTotalEnergyConsumption(handle, ctypes.byref(millijoules))
            if code != 0:
                raise OSError(f"NVML error {code}")
            return millijoules.value / 1000.0

        try:
            read()
        except OSError:
            continue
        counters.append(Counter(f"nvml:gpu{index}", read))
    return counters, None if counters else "NVML has no energy counter on these GPUs (it needs Volta or later)"


def find_counters(device: str) -> tuple[list[Counter], str | None]:
    """RAPL always, NVML on a GPU case; the reasons joined where none can be read."""
    counters, why = rapl_counters()
    if device == "gpu":
        gpus, gpu_why = nvml_counters()
        counters, why = counters + gpus, "; ".join(w for w in (why, gpu_why) if w)
    elif why:
        why += "; NVML is read on GPU cases only"
    return counters, None if counters else why


class EnergyMeter:
    """Joules per phase, as ``bench.memory.PhaseMemory`` keeps bytes: ``start`` at a phase's first
    test, ``end`` after each of its tests (the last reading stands)."""

    def __init__(self, device: str = "cpu", counters: list[Counter] | None = None, why: str | None = None) -> None:
        if counters is None:
            counters, why = find_counters(device)
        self.counters, self.why = counters, why
        self._started: dict[str, tuple[float, dict[str, float | None]]] = {}
        self.phases: dict[str, dict[str, Any]] = {}

    def _read(self) -> dict[str, float | None]:
        values: dict[str, float | None] = {}
        for counter in self.counters:
            try:
                values[counter.name] = counter.read()
            except (OSError, ValueError) as exc:
                log.warning("energy counter %s failed: %s", counter.name, exc)
                values[counter.name] = None
        return values

    def start(self, phase: str) -> bool:
        if phase in self._started or not self.counters:
            return False
        self._started[phase] = (time.perf_counter(), self._read())
        return True

    def end(self, phase: str) -> None:
        if phase not in self._started:
            return
        began, before = self._started[phase]
        now = self._read()
        joules: dict[str, float | None] = {}
        for counter in self.counters:
            first, last = before.get(counter.name), now.get(counter.name)
            if first is None or last is None:
                joules[counter.name] = None
                continue
            if last < first and counter.wrap_joules:  # the counter wrapped once during the phase
                last += counter.wrap_joules
            joules[counter.name] = last - first if last >= first else None
        self.phases[phase] = {"joules": joules, "seconds": time.perf_counter() - began}

    def discard(self, phase: str) -> None:
        self._started.pop(phase, None)
        self.phases.pop(phase, None)

    def record(self) -> dict[str, Any]:
        """``machine_info["energy"]``: the joules of each phase by counter, or why nothing was measured."""
        if not self.counters:
            return {"measured": False, "why": self.why or "no energy counter on this machine"}
        return {"measured": True, "counters": [c.name for c in self.counters],
                "training": self.phases.get("training"), "inference": self.phases.get("inference")}
