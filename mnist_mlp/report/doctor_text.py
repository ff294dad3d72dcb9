"""``mnist-mlp doctor``'s findings (``mnist_mlp.doctor.diagnose``) as text for a terminal."""

from __future__ import annotations

from typing import Any

from mnist_mlp.report.tables import DASH, render


def _gib(value: Any) -> str:
    return DASH if not value else f"{value / 2**30:.1f} GiB"


def backends_section(report: dict[str, Any]) -> str:
    headers = ["backend", "version", "devices", "CUDA build", "status"]
    rows = []
    for name, entry in report["backends"].items():
        if not entry["installed"]:
            status = f"not installed: {entry['install_command']}"
        elif entry["error"]:
            status = entry["error"]
        else:
            status = f"ok (probe {entry['probe_seconds']:.1f} s)"
        devices = ", ".join(
            device["id"] + ("" if device["name"] in (device["kind"], None) else f" ({device['name']})")
            for device in entry["devices"]
        )
        rows.append([name, entry["version"] or DASH, devices or DASH, entry["cuda_runtime"] or DASH, status])
    return "Backends (each probed in its own process)\n" + render((headers, rows), "simple")


def threads_section(threads: dict[str, Any]) -> str:
    lines = [f"Threads: {threads.get('usable_cores')} usable of {threads.get('os_cpu_count')} logical cores"]
    env = threads.get("env") or {}
    lines.append("  environment: " + (", ".join(f"{k}={v}" for k, v in env.items()) or "no thread variables set"))
    pools = threads.get("threadpools")
    if pools is None:
        lines.append("  thread pools: threadpoolctl is not installed")
    elif not pools:
        lines.append("  thread pools: none loaded")
    for pool in pools or []:
        name = " ".join(str(part) for part in (pool.get("internal_api") or pool.get("user_api"), pool.get("version")) if part)
        lines.append(f"  {name} (NumPy): {pool.get('num_threads')} threads")
    return "\n".join(lines)


def cuda_section(cuda: dict[str, Any]) -> str:
    if not cuda["nvidia_smi"]:
        hint = " (but /dev/nvidia0 exists)" if cuda["gpu_hardware"] else ""
        return f"CUDA: no nvidia-smi on PATH, so no NVIDIA driver found{hint}"
    lines = [f"CUDA: driver {cuda['driver'] or DASH}, supports CUDA {cuda['cuda_driver_version'] or DASH} ({cuda['nvidia_smi']})"]
    for gpu in cuda["gpus"]:
        lines.append(f"  {gpu['name']}, {_gib(gpu.get('memory_bytes'))}")
    return "\n".join(lines)


def data_section(data: dict[str, Any]) -> str:
    where = f"Data: {data['path']} (from {data['origin']})"
    if data["ok"]:
        return (f"{where}\n  ok: {data['train']:,} training and {data['test']:,} test images match the "
                f"official SHA-256 (dataset sha256 {data['sha256'][:16]}...)")
    return f"{where}\n  PROBLEM: {data['problem']}"


def cases_section(cases: list[dict[str, Any]]) -> str:
    rows = [[case["case"], case["action"], case["reason"] or ""] for case in cases]
    return "Cases the default `mnist-mlp bench` would plan\n" + render((["case", "would", "why"], rows), "simple")


def render_text(report: dict[str, Any]) -> str:
    """Every section, then the verdict that decides the exit code."""
    verdict = (
        f"{len(report['can_run'])} of {len(report['backends'])} backends can run here: "
        f"{', '.join(report['can_run'])} (exit 0)"
        if report["can_run"] else "no backend can run here (exit 1)"
    )
    head = f"mnist-mlp {report['mnist_mlp']} doctor: Python {report['python']} ({report['executable']})"
    sections = [
        head, backends_section(report), threads_section(report["threads"]), cuda_section(report["cuda"]),
        data_section(report["data"]), cases_section(report["cases"]), verdict,
    ]
    return "\n\n".join(sections)
