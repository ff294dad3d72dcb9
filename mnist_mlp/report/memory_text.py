"""The report's "Memory" section: each case's peak memory in training and in inference, the floor
beside it, and the energy where the machine counts it.

A section of its own because memory is read differently from time: what matters is how far above
the floor a framework sits (parameters, gradients and Adam's moments: 1.6 MiB for this model,
against hundreds of MiB of a framework's resident process), and how much of it the phase itself
adds over what was resident when it began. Energy stands beside it only where a hardware counter
measured it; elsewhere the section says why there is none, never a figure from a TDP table.
"""

from __future__ import annotations

from typing import Any

from mnist_mlp.report.fmt import DASH
from mnist_mlp.report.tables import Table, flags, render

SECTION = "Memory"
PHASES = ("training", "inference")
MIB = 2**20


def mib(value: Any) -> str:
    return DASH if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value / MIB:,.1f}"


def _cases(run: dict) -> list[dict]:
    return [case for case in run.get("cases", []) if isinstance(case.get("memory"), dict)]


def _phase(case: dict, phase: str) -> dict:
    entry = case["memory"].get(phase)
    return entry if isinstance(entry, dict) else {}


def _above(entry: dict) -> str:
    peak, start = entry.get("peak_rss_bytes"), entry.get("baseline_rss_bytes")
    return DASH if peak is None or start is None else mib(max(peak - start, 0))


def _joules(case: dict, phase: str) -> str:
    spent = ((case.get("energy") or {}).get(phase) or {}).get("joules") or {}
    values = [v for v in spent.values() if isinstance(v, (int, float))]
    return f"{sum(values):,.1f}" if values else DASH


def table(run: dict) -> Table:
    """(headers, rows) in MiB; the device and energy columns only where some case measured them."""
    cases = _cases(run)
    device = any(_phase(c, p).get("device_peak_bytes") is not None for c in cases for p in PHASES)
    energy = any((c.get("energy") or {}).get("measured") for c in cases)
    headers = ["case", "training peak MiB", "above its start", "inference peak MiB", "above its start"]
    headers += ["device peak MiB (training / inference)"] * device + ["training peak / floor"]
    headers += ["energy J (training / inference)"] * energy
    rows = []
    for case in cases:
        memory, training, inference = case["memory"], _phase(case, "training"), _phase(case, "inference")
        def peak(entry: dict) -> str:  # marked where it is the process's peak so far, not the phase's
            value = entry.get("peak_rss_bytes")
            return mib(value) + ("" if memory.get("per_phase") or value is None else " *")

        row = [f"{case['id']}{flags(case)}", peak(training), _above(training), peak(inference), _above(inference)]
        if device:
            row.append(f"{mib(training.get('device_peak_bytes'))} / {mib(inference.get('device_peak_bytes'))}")
        peak, floor = training.get("peak_rss_bytes"), memory.get("floor_bytes")
        row.append(f"{peak / floor:,.0f}x" if peak and floor else DASH)
        if energy:
            row.append(f"{_joules(case, 'training')} / {_joules(case, 'inference')}")
        rows.append(row)
    return headers, rows


def notes(run: dict) -> str:
    """How the figures were taken, the floor, the device counters and why energy is (not) there."""
    cases = _cases(run)
    hows = sorted({str(c["memory"].get("how")) for c in cases if c["memory"].get("per_phase")})
    floor = next((c["memory"] for c in cases if c["memory"].get("floor_bytes")), {})
    lines = [
        "Peak resident memory (RSS) of the case's process in each phase"
        + (f" ({'; '.join(hows)})" if hows else "") + "; *above its start* is the peak less the RSS when the "
        "phase began (the framework, the data and, in a shared process, what earlier cases left).",
    ]
    if any(not c["memory"].get("per_phase") for c in cases):
        fallback = next(str(c["memory"].get("how")) for c in cases if not c["memory"].get("per_phase"))
        lines.append(f"\\* {fallback}.")
    if floor:
        lines.append(f"The floor: {floor.get('floor')} = {mib(floor['floor_bytes'])} MiB; *training peak / floor* is "
                     "how many times the process held it.")
    counters = sorted({f"{c['memory']['device_counter']} ({'per phase' if c['memory'].get('device_scope') == 'phase' else 'the process peak so far'})"
                       for c in cases if c["memory"].get("device_counter") and c.get("device") == "gpu"})
    if counters:
        lines.append("Device memory by each framework's own counter: " + "; ".join(counters) + ".")
    energies = [c.get("energy") or {} for c in cases]
    if any(e.get("measured") for e in energies):
        names = sorted({n for e in energies if e.get("measured") for n in e.get("counters") or []})
        lines.append(f"Energy from the hardware's counters ({', '.join(names)}), summed over them: the whole CPU package "
                     "or GPU board over the phase, other processes' share included.")
    else:
        whys = sorted({str(e["why"]) for e in energies if e.get("why")})
        lines.append("Energy: not measurable here" + (f" ({'; '.join(whys)})" if whys else "") + "; nothing is estimated.")
    return "\n\n".join(lines)


def with_memory(sections: dict[str, str], run: dict, fmt: str = "github") -> dict[str, str]:
    """``sections`` (``tables.format_all``) with the Memory section before the machine's (its state
    per case, else the machine), where some case recorded memory; unchanged otherwise."""
    headers, rows = table(run)
    if not rows:
        return sections
    text = render((headers, rows), fmt) + "\n\n" + notes(run)
    out: dict[str, str] = {}
    for name, body in sections.items():
        if name in ("Machine state per case", "Machine") and SECTION not in out:
            out[SECTION] = text
        out[name] = body
    out.setdefault(SECTION, text)
    return out
