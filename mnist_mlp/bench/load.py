"""What else the machine was doing while a case ran: other processes' CPU, steal, load average.

A timing says little without the machine's state beside it: on a shared 2-core VM the same run
took 12 s one day and 53 s another. While each case runs, the parent samples (through psutil,
like pyperf's system checks) the CPU time of the whole machine and of this run's own process
tree; the difference is what processes *outside* the run took. Steal (time the hypervisor gave
to other guests) comes from the kernel where it reports one. A case is marked **busy** when
other processes took more than ``BUSY_CORES`` of a core on average, or steal exceeded
``BUSY_STEAL_PERCENT`` of the CPU time.

The load source is injectable (``LoadSource``) so tests judge a fake machine, offline.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)

#: other processes above this many cores (averaged over the case) make it busy
BUSY_CORES = 0.1
#: steal above this share of all CPU time makes it busy
BUSY_STEAL_PERCENT = 3.0
#: seconds between two samples while a case runs
INTERVAL_S = 1.0


@dataclass(frozen=True)
class LoadSample:
    """Cumulative counters at one moment (seconds of CPU time since boot, except ``wall``)."""

    wall: float
    busy: float  # CPU seconds all processes of the machine ran (idle, iowait and steal excluded)
    steal: float | None  # CPU seconds stolen by the hypervisor; None where the kernel has no such count
    own: float  # CPU seconds of this run's process tree (this process and its descendants)
    cores: int
    loadavg1: float | None


class LoadSource(Protocol):
    def sample(self) -> LoadSample: ...


class PsutilLoadSource:
    """The real machine, through psutil; ``own`` is this process and every live descendant.

    A reaped child's CPU time moves into this process's ``children_*`` counters, so the sum never
    loses a finished child.
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._me = psutil.Process()

    def _own(self) -> float:
        total = 0.0
        for proc in [self._me, *self._children()]:
            try:
                t = proc.cpu_times()
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied, self._psutil.ZombieProcess):
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def _children(self) -> list:
        try:
            return self._me.children(recursive=True)
        except self._psutil.Error:
            return []

    def sample(self) -> LoadSample:
        times = self._psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0)
        steal = getattr(times, "steal", None)
        guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)  # already in user/nice
        busy = sum(times) - idle - (steal or 0.0) - guest
        try:
            load1 = os.getloadavg()[0]
        except OSError:
            load1 = None
        return LoadSample(time.monotonic(), busy, steal, self._own(), self._psutil.cpu_count() or 1, load1)


def default_source() -> LoadSource | None:
    """psutil's view of this machine, or None (no load figures) where psutil is missing."""
    try:
        return PsutilLoadSource()
    except Exception as exc:  # noqa: BLE001 - load figures are optional, a run is not
        log.warning("no load monitoring (%s)", exc)
        return None


class LoadMonitor:
    """Samples a ``LoadSource`` at most every ``interval`` seconds; ``summary()`` judges the span."""

    def __init__(self, source: LoadSource | None, interval: float = INTERVAL_S) -> None:
        self.source = source
        self.interval = interval
        self.samples: list[LoadSample] = []
        self._last_taken = float("-inf")

    def poll(self, force: bool = False) -> None:
        """Take a sample if ``interval`` has passed since the last (cheap to call often)."""
        if self.source is None:
            return
        if not force and time.monotonic() - self._last_taken < self.interval:
            return
        try:
            self.samples.append(self.source.sample())
        except Exception as exc:  # noqa: BLE001 - a failed sample must not stop the case
            log.info("load sample failed: %s", exc)
        self._last_taken = time.monotonic()

    def start(self) -> "LoadMonitor":
        self.samples = []
        self.poll(force=True)
        return self

    def summary(self) -> dict[str, Any] | None:
        self.poll(force=True)
        return summarize(self.samples)


def summarize(samples: list[LoadSample]) -> dict[str, Any] | None:
    """Other processes' cores (mean and worst interval), steal %, load average, and the verdict."""
    if len(samples) < 2:
        return None
    first, last = samples[0], samples[-1]
    wall = last.wall - first.wall
    if wall <= 0:
        return None
    outside = [
        max(0.0, (b.busy - a.busy) - (b.own - a.own)) / (b.wall - a.wall)
        for a, b in zip(samples, samples[1:]) if b.wall > a.wall
    ]
    outside_mean = max(0.0, (last.busy - first.busy) - (last.own - first.own)) / wall
    steal_percent = None
    if first.steal is not None and last.steal is not None:
        steal_percent = 100.0 * (last.steal - first.steal) / (wall * last.cores)
    loads = [s.loadavg1 for s in samples if s.loadavg1 is not None]
    reasons = []
    if outside_mean > BUSY_CORES:
        reasons.append(f"other processes used {outside_mean:.2f} cores on average (limit {BUSY_CORES:g})")
    if steal_percent is not None and steal_percent > BUSY_STEAL_PERCENT:
        reasons.append(f"CPU steal {steal_percent:.1f}% (limit {BUSY_STEAL_PERCENT:g}%)")
    return {
        "seconds": round(wall, 3),
        "samples": len(samples),
        "cores": last.cores,
        "outside_cores_mean": round(outside_mean, 4),
        "outside_cores_max": round(max(outside), 4) if outside else None,
        "steal_percent": None if steal_percent is None else round(steal_percent, 3),
        "own_cpu_seconds": round(last.own - first.own, 3),
        "loadavg1_max": round(max(loads), 3) if loads else None,
        "busy": bool(reasons),
        "busy_reasons": reasons,
        "thresholds": {"outside_cores": BUSY_CORES, "steal_percent": BUSY_STEAL_PERCENT},
    }


def measure_for(seconds: float, source: LoadSource | None = None, sleep: Callable[[float], None] = time.sleep,
                during: Callable[[], None] | None = None) -> dict[str, Any] | None:
    """The machine's load over the next ``seconds`` with no case running (``bench``'s opening check).

    ``during``, this process's own set-up (reading the data), runs first within those seconds: its
    CPU time is this run's own, never counted as the machine's load, so the check need not wait for it."""
    monitor = LoadMonitor(source if source is not None else default_source(), interval=0.0)
    monitor.start()
    started = time.monotonic()
    if during is not None:
        during()
    sleep(max(0.0, seconds - (time.monotonic() - started)))
    return monitor.summary()
