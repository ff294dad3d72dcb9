"""The index of runs: ``reports/index.md``, newest first, one row per run folder.

Rebuilt from the run folders each time (never edited in place), so it cannot drift from what is
on disk; the harness calls ``write_index(reports_dir)`` after every run, and ``mnist-mlp runs``
does the same on demand. A run is any folder holding a results.json, up to ``MAX_DEPTH`` levels
below the reports folder, so the committed ``reference/<run>``, ``calibration/<run>`` and
``regressions/<run>`` are listed beside the top-level runs; each is named by its path relative
to the reports folder (which is also its link in index.md). A run folder is not searched further.
Folders without a results.json (compare outputs, calibration notes) are passed over silently; a
folder whose results.json is invalid is skipped with a warning, and listed under the table, so
one damaged run never hides the others.

A run that did not finish is marked ``incomplete`` with what is left (a case ``running`` when
its parent was killed, ``interrupted``, ``not run`` or ``missing``), and a run continued by
``bench --resume`` is marked ``resumed``; the status column shows both. Two runs may end at
once, so the index is rebuilt under a lock (``.index.lock`` beside it): whoever writes last
has scanned last, and the file lists both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

from tabulate import tabulate

from mnist_mlp import atomic, results
from mnist_mlp.bench.resume import unfinished
from mnist_mlp.errors import ResultFileError
from mnist_mlp.locks import FileLock
from mnist_mlp.stats import is_number

log = logging.getLogger(__name__)
INDEX_FILE = "index.md"
LOCK_FILE = ".index.lock"
#: how deep below the reports folder runs are looked for: reports/<run>, reports/<group>/<run>
MAX_DEPTH = 2


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
        left = unfinished(run)
        return {
            "folder": self.folder,
            "run_id": run["run_id"],
            "date": run["created_utc"],
            "host": machine.get("host", "?"),
            "cpu": cpu,
            "gpus": gpus,
            "profile": run.get("profile"),
            "status": run["status"],
            "incomplete": run["status"] == "interrupted" or bool(left),
            "unfinished": left or [],
            "resumed": len(run.get("resumed") or []),
            "cases": [c["id"] + ("" if c["status"] == "ok" else f" ({c['status']})") for c in cases],
            "headline": [h for h in (_headline(c) for c in cases if c["status"] == "ok") if h],
            "gate": None if not isinstance(gate, dict) else ("pass" if gate.get("passed") else "FAIL"),
        }


def _headline(case: Mapping[str, Any]) -> str:
    """``jax-cpu 61.2 s 97.54%`` from training; in an open-division run the race's score
    (``jax-cpu-native-fast 2.09 s to 97.9% (10/10)``, or ``no score`` with the seeds that reached
    it); else the largest-batch direct/predict throughput."""
    name = case["id"]
    race = case.get("race") or {}
    score = race.get("score")
    if score:
        target = race.get("target_accuracy")
        to = f"to {target:.1%}" if is_number(target) else "to target"
        seconds = f"{score['seconds']:.2f} s" if is_number(score.get("seconds")) else "no score"
        return f"{name} {seconds} {to} ({score.get('reached', '?')}/{score.get('seeds', '?')})"
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


def run_folders(root: Path, depth: int = MAX_DEPTH) -> list[Path]:
    """Folders holding a results.json, at most ``depth`` levels below ``root``, not inside each other.

    Hidden folders and symbolic links to folders are not entered.
    """
    found: list[Path] = []
    if depth < 1:
        return found
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    except OSError as exc:
        log.warning("cannot list %s: %s", root, exc)
        return found
    for folder in children:
        if (folder / results.RESULTS_FILE).is_file():
            found.append(folder)
        else:
            found.extend(run_folders(folder, depth - 1))
    return found


def scan(reports_dir: str | Path) -> tuple[list[RunEntry], dict[str, str]]:
    """Valid runs newest first, and the skipped folders with the reason (keyed by relative path)."""
    root = Path(reports_dir)
    entries, skipped = [], {}
    if not root.is_dir():
        return entries, skipped
    for folder in run_folders(root):
        name = folder.relative_to(root).as_posix()
        try:
            entries.append(RunEntry(name, results.load(folder / results.RESULTS_FILE)))
        except ResultFileError as exc:
            log.warning("skipped %s: %s", folder, exc)
            skipped[name] = str(exc)
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
                r["date"], _link(r["folder"], r["run_id"]), machine, r["profile"], _status(r),
                ", ".join(r["cases"]), "; ".join(r["headline"]), r["gate"] or "—",
            ])
        headers = ["date (UTC)", "run", "machine", "profile", "status", "backends x devices", "headline (training time and test accuracy; time to target; throughput)", "gate"]
        lines.append(tabulate(rows, headers=headers, tablefmt="github"))
        if any(entry.row()["incomplete"] for entry in entries):
            lines += ["", "An incomplete run continues with `mnist-mlp bench --resume <reports folder>/<run>`."]
    else:
        lines.append("No runs yet.")
    if skipped:
        lines += ["", "Skipped (invalid results.json):", ""] + [f"- `{name}`: {why}" for name, why in skipped.items()]
    return "\n".join(lines) + "\n"


def _status(row: Mapping[str, Any]) -> str:
    """``partial, incomplete (torch-cpu running, numpy-cpu missing), resumed 2x``."""
    text = row["status"]
    if row["incomplete"]:
        text += ", incomplete" + (f" ({', '.join(row['unfinished'])})" if row["unfinished"] else "")
    if row["resumed"]:
        text += ", resumed" + (f" {row['resumed']}x" if row["resumed"] > 1 else "")
    return text


def _link(folder: str, run_id: str) -> str:
    """``[reference/<run>](reference/<run>/)``: the folder relative to index.md, and the run id if it differs."""
    text = folder if folder.rsplit("/", 1)[-1] == run_id else f"{folder} ({run_id})"
    return f"[{text}]({quote(folder)}/)"


def write_index(reports_dir: str | Path) -> Path:
    """Rebuild ``reports_dir/index.md`` atomically, under the index lock; returns its path."""
    root = atomic.ensure_writable_dir(reports_dir)
    with FileLock(root / LOCK_FILE):
        entries, skipped = scan(root)
        return atomic.write_text(root / INDEX_FILE, render(entries, skipped))
