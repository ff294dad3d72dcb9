"""What Keras costs: per backend x device, Keras' steady ms per training step beside the native ones.

For each backend and device with a Keras case (``torch-cpu``) and native cases
(``torch-cpu-native``, ``torch-cpu-native-fast``; ``numpy-cpu-native`` has no Keras case beside
it), the table gives the steady milliseconds per training step of each (epochs 2..N, training
steps only, as the Training table), the native ones as a fraction of Keras', and each as a
multiple of the *FLOP floor* of a step: ``batch x training FLOPs per sample / peak``, the time the
step's matrix multiplications would take at the FP32 matmul peak that case's own framework reached
on its device beside it (``case.peak.gflops``). A multiple of 1 would mean the step does nothing but
matmuls at peak speed; what is above it is overhead (dispatch, small-kernel inefficiency, the
optimizer, the framework's trainer).

Only cases whose status is ok count; a run without native cases has no rows (so reports of older
runs are unchanged). ``rows`` is the data, ``table`` its formatting, ``plot`` the figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnist_mlp.native.cases import implementation_of

#: the columns, in order, and which implementation fills them
ORDER = ("keras", "native", "native-fast")
NOTE = (
    "ms/step: steady milliseconds per training step (epochs 2..N, training steps only, mean over seeds). "
    "native/Keras and fast/Keras: the native variant's ms/step over the Keras case's, same run, backend and device "
    "(below 1: Keras costs that much more). floor ms: the lowest FLOP floor of the row's cases; × floor: each case's "
    "ms/step over its own FLOP floor of one step, batch × training "
    "FLOPs per sample (427,904 for the seed's model) / the FP32 matmul peak probed beside that case. native: the "
    "framework's own plain code; fast: the fastest form for batch 32 (mnist_mlp.native says what each changes). "
    "Busy or unstable cases are marked as everywhere in this report, and so is every figure they went into "
    "(a ratio with a marked case on either side, a floor from a marked case's peak)."
)


def _ms(case: dict) -> float | None:
    return (((case.get("training") or {}).get("steady_ms_per_step")) or {}).get("mean")


def floor_ms(case: dict, batch_size: int) -> float | None:
    """The FLOP floor of one training step of ``case``, in ms, at its own measured peak."""
    peak = (case.get("peak") or {}).get("gflops")
    per_sample = (case.get("flops") or {}).get("train_per_sample")
    if not peak or not per_sample:
        return None
    return batch_size * per_sample / (peak * 1e9) * 1e3


def rows(run: dict) -> list[dict[str, Any]]:
    """One dict per backend x device that has a native case: ms/step, floor multiple and case id per
    implementation (None where absent), and the ratios native/Keras, fast/Keras."""
    batch = int(((run.get("workload") or {}).get("train") or {}).get("batch_size") or 32)
    groups: dict[tuple[str, str], dict[str, dict]] = {}
    for case in run.get("cases", []):
        if case.get("status") != "ok" or not case.get("training"):
            continue
        implementation = implementation_of(case)
        others = {k: v for k, v in (case.get("compile_overrides") or {}).items() if k != "implementation"}
        if others:  # a Keras compile variant (jit_false, dp2, tf32): not the base case
            continue
        groups.setdefault((case["backend"], case["device"]), {})[implementation] = case
    out = []
    for (backend, device), found in groups.items():
        if not any(name in found for name in ORDER[1:]):
            continue
        row: dict[str, Any] = {"backend": backend, "device": device}
        for name in ORDER:
            case = found.get(name)
            ms = _ms(case) if case else None
            floor = floor_ms(case, batch) if case else None
            row[name] = {"case": case["id"] if case else None, "ms_per_step": ms,
                         "floor_ms": floor, "floor_multiple": ms / floor if ms and floor else None,
                         "flags": bool(case and (case.get("busy") or case.get("unstable")))}
        if all(row[name]["ms_per_step"] is None for name in ORDER):  # one-epoch runs have no steady figure
            continue
        keras_ms = row["keras"]["ms_per_step"]
        for name in ORDER[1:]:
            ms = row[name]["ms_per_step"]
            row[name]["vs_keras"] = ms / keras_ms if ms and keras_ms else None
        out.append(row)
    return out


def table(run: dict) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of formatted strings, like every ``report.tables`` table."""
    from mnist_mlp.report.fmt import DASH, num

    def marked(text: str, value: float | None, *cells: dict) -> str:
        """A figure that any flagged case went into carries the flag, not the ms column alone."""
        return text + " *" if value is not None and any(cell["flags"] for cell in cells) else text

    def ratio(cell: dict, keras: dict) -> str:
        value = cell["vs_keras"]
        return marked(DASH if value is None else f"{value:.2f}x", value, cell, keras)

    headers = ["backend", "device", "Keras ms/step", "native ms/step", "fast ms/step", "native/Keras", "fast/Keras",
               "floor ms", "Keras × floor", "native × floor", "fast × floor"]
    body = []
    for row in rows(run):
        cells = [row[name] for name in ORDER]
        lowest = min((cell for cell in cells if cell["floor_ms"]), key=lambda cell: cell["floor_ms"], default=None)
        body.append([
            row["backend"], row["device"],
            *(marked(num(cell["ms_per_step"], 3), cell["ms_per_step"], cell) for cell in cells),
            ratio(row["native"], row["keras"]), ratio(row["native-fast"], row["keras"]),
            marked(num(lowest["floor_ms"], 4), lowest["floor_ms"], lowest) if lowest else DASH,
            *(marked(num(cell["floor_multiple"], 1), cell["floor_multiple"], cell) for cell in cells),
        ])
    return headers, body


def note(run: dict) -> str:
    marked = any(row[name]["flags"] for row in rows(run) for name in ORDER)
    return NOTE + (" * the case was busy or unstable: its figure is not to be trusted." if marked else "")


def plot(run: dict, path: str | Path) -> Path:
    """Grouped bars per backend x device: ms/step of Keras, native and fast, with the FLOP floor as a
    tick over each group (log scale: the floor is one to two orders of magnitude below)."""
    from mnist_mlp.report.plots import pyplot, save_figure

    plt = pyplot()
    data = rows(run)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.8 * len(data) + 2), 4))
    width = 0.26
    colors = {"keras": "#4c72b0", "native": "#dd8452", "native-fast": "#55a868"}
    for i, name in enumerate(ORDER):
        xs = [k + (i - 1) * width for k in range(len(data))]
        heights = [row[name]["ms_per_step"] or 0.0 for row in data]
        ax.bar(xs, heights, width, label=name, color=colors[name])
    for k, row in enumerate(data):
        floors = [row[name]["floor_ms"] for name in ORDER if row[name]["floor_ms"]]
        if floors:
            ax.hlines(min(floors), k - 1.5 * width, k + 1.5 * width, colors="black", linestyles="dotted")
    ax.set_xticks(range(len(data)), [f"{row['backend']}-{row['device']}" for row in data])
    ax.set_yscale("log")
    ax.set_ylabel("steady ms per training step (log)")
    ax.set_title("What Keras costs: ms/step; dotted: the FLOP floor of a step")
    ax.legend()
    return save_figure(fig, path)
