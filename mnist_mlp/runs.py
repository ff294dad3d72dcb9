"""The index of runs: ``reports/index.md``, newest first, one row per run folder.

Rebuilt from the run folders each time (never edited in place), so it cannot drift from what is
on disk; the harness calls ``write_index(reports_dir)`` after every run, and ``mnist-mlp runs``
does the same on demand. Folders without a results.json (compare outputs, calibration) are not
runs and are passed over silently; a folder whose results.json is invalid is skipped with a
warning, and listed under the table, so one damaged run never hides the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from tabulate import tabulate

from mnist_mlp import atomic, results
from mnist_mlp.errors import ResultFileError

log = logging.getLogger(__name__)
INDEX_FILE = "index.md"


@dataclass
class RunEntry:
    folder: str
    run: dict[str, Any]

    def row(self) -> dict[str, Any]:
        run = self.run
        machine = run.get("machine") or {}
        cpu = (machine.get("cpu") or {}).get("model") or "?"
        gpus = [g.get("name", "?") for g in machine.get("gpus") or []]
        cases = run.get("cases", [])
        gate = run.get("gate")
        return {
            "folder": self.folder,
            "run_id": run["run_id"],
            "date": run["created_utc"],
            "host": machine.get("host", "?"),
            "cpu": cpu,
            "gpus": gpus,
            "profile": run.get("profile"),
            "status": run["status"],
            "cases": [f"{c['backend']}-{c['device']}" + ("" if c["status"] == "ok" else f" ({c['status']})") for c in cases],
            "headline": [h for h in (_headline(c) for c in cases if c["status"] == "ok") if h],
            "gate": None if not isinstance(gate, dict) else ("pass" if gate.get("passed") else "FAIL"),
        }


def _headline(case: Mapping[str, Any]) -> str:
    """``jax-cpu 61.2 s 97.54%`` from training, else the largest-batch direct/predict throughput."""
    name = f"{case['backend']}-{case['device']}"
    training = case.get("training") or {}
    wall = (training.get("wall_seconds") or {}).get("mean")
    accuracy = (training.get("test_accuracy") or {}).get("mean")
    parts = []
    if wall is not None:
        parts.append(f"{wall:.1f} s")
    if accuracy is not None:
        parts.append(f"{accuracy:.2%}")
    if not parts:
        rows = sorted(case.get("inference") or [], key=lambda r: (r["path"] != "direct", -r["batch_size"]))
        if rows:
            parts.append(f"{rows[0]['samples_per_second']:,.0f}/s @{rows[0]['batch_size']}")
    return f"{name} {' '.join(parts)}" if parts else ""


def scan(reports_dir: str | Path) -> tuple[list[RunEntry], dict[str, str]]:
    """Valid runs newest first, and the skipped folders with the reason."""
    root = Path(reports_dir)
    entries, skipped = [], {}
    if not root.is_dir():
        return entries, skipped
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        path = folder / results.RESULTS_FILE
        if not path.is_file():
            continue
        try:
            entries.append(RunEntry(folder.name, results.load(path)))
        except ResultFileError as exc:
            log.warning("skipped %s: %s", folder, exc)
            skipped[folder.name] = str(exc)
    entries.sort(key=lambda e: (e.run["created_utc"], e.folder), reverse=True)
    return entries, skipped


def render(entries: list[RunEntry], skipped: Mapping[str, str]) -> str:
    lines = ["# Runs", "", "Newest first. Rebuilt after every run and by `mnist-mlp runs`.", ""]
    if entries:
        rows = []
        for entry in entries:
            r = entry.row()
            machine = f"{r['host']} ({r['cpu']}" + (f"; {', '.join(r['gpus'])}" if r["gpus"] else "") + ")"
            rows.append([
                r["date"], f"[{r['run_id']}]({r['folder']}/)", machine, r["profile"], r["status"],
                ", ".join(r["cases"]), "; ".join(r["headline"]), r["gate"] or "—",
            ])
        headers = ["date (UTC)", "run", "machine", "profile", "status", "backends x devices", "headline (training time, test accuracy)", "gate"]
        lines.append(tabulate(rows, headers=headers, tablefmt="github"))
    else:
        lines.append("No runs yet.")
    if skipped:
        lines += ["", "Skipped (invalid results.json):", ""] + [f"- `{name}`: {why}" for name, why in skipped.items()]
    return "\n".join(lines) + "\n"


def write_index(reports_dir: str | Path) -> Path:
    """Rebuild ``reports_dir/index.md`` atomically; returns its path."""
    entries, skipped = scan(reports_dir)
    return atomic.write_text(Path(reports_dir) / INDEX_FILE, render(entries, skipped))
