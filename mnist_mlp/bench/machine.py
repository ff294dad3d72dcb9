"""Describe the machine a run measured, so a number from elsewhere is never compared blindly.

Everything here is read without importing a framework (the parent process stays framework-free):
CPU model (py-cpuinfo, falling back to the platform module), cores, memory, GPUs (nvidia-smi),
OS, Python, package versions, thread settings, and the project's git commit.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: environment variables that change how many threads the frameworks use
THREAD_VARS = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS", "XLA_FLAGS", "TORCH_NUM_THREADS",
)


def host_name() -> str:
    return socket.gethostname() or platform.node() or "unknown-host"


def cpu_info() -> dict[str, Any]:
    model = None
    try:
        import cpuinfo  # py-cpuinfo; slow-ish (reads /proc/cpuinfo, may spawn a helper), once per run

        model = cpuinfo.get_cpu_info().get("brand_raw")
    except Exception as exc:  # optional dependency, never fatal
        log.info("py-cpuinfo unavailable (%s)", exc)
    physical = None
    try:
        import psutil  # type: ignore[import-not-found]

        physical = psutil.cpu_count(logical=False)
    except Exception:
        physical = _physical_cores_linux()
    return {
        "model": model or platform.processor() or platform.machine(),
        "logical_cores": os.cpu_count(),
        "physical_cores": physical,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "arch": platform.machine(),
    }


def _physical_cores_linux() -> int | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    pairs = set()
    physical = core = None
    for line in text.splitlines():
        if line.startswith("physical id"):
            physical = line.split(":")[1].strip()
        elif line.startswith("core id"):
            core = line.split(":")[1].strip()
            pairs.add((physical, core))
    return len(pairs) or None


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs from ``nvidia-smi`` (empty when there is none, or it fails)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi failed: %s", exc)
        return []
    found = []
    for line in out.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) >= 3:
            try:
                memory = int(float(parts[1])) * 1024 * 1024  # MiB
            except ValueError:
                memory = None
            found.append({"name": parts[0], "memory_bytes": memory, "driver": parts[2]})
    return found


def thread_settings() -> dict[str, Any]:
    settings: dict[str, Any] = {"env": {name: os.environ.get(name) for name in THREAD_VARS if os.environ.get(name)}}
    settings["os_cpu_count"] = os.cpu_count()
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-not-found]

        settings["threadpools"] = [
            {key: pool.get(key) for key in ("user_api", "internal_api", "num_threads", "version")}
            for pool in threadpool_info()
        ]
    except ImportError:
        settings["threadpools"] = None
    return settings


def git_commit(root: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the project checkout, or (None, None) when it is not a git checkout."""
    root = root or Path(__file__).resolve().parents[2]
    git = shutil.which("git")
    if not git or not (root / ".git").exists():
        return None, None
    try:
        commit = subprocess.run([git, "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            [git, "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
        return commit.stdout.strip() or None, bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def describe(peak_gflops: dict[str, float]) -> dict[str, Any]:
    """The ``machine`` object of results.json."""
    return {
        "host": host_name(),
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_info(),
        "memory_bytes": memory_bytes(),
        "gpus": gpus(),
        "threads": thread_settings(),
        "peak_gflops": dict(peak_gflops),
    }
