"""The quick profile's wall time on two sides, interleaved: is the smoke run within its minute?

    python benchmarks/quick_wall.py --a "env PYTHONPATH=/tmp/old python" --b python --pairs 3 --out DIR

Each side is a command that starts a Python with the suite installed, as ``mnist-mlp ab``'s
sides are (``mnist_mlp.bench.sides``: another checkout, another venv). The runs alternate A, B,
A, B, ... so the VM's drift (its speed wanders by 2x between days, and by 10 s between two quick
runs of one commit within minutes) falls on both sides alike. Each run is the whole command a user
types, ``python -m mnist_mlp bench --profile quick --out DIR/<side>-<k>``, timed from outside
(wall seconds, Python's start and the final print included); its run folder and its terminal log
stay in ``DIR/<side>-<k>/``. ``DIR/quick_wall.json`` and ``DIR/quick_wall.md`` hold every run's
wall seconds, its own "took" split (``timing`` in its results.json), the median per side and the
paired ratios B/A. Nothing else may run meanwhile: two cores, and every second counts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from mnist_mlp.bench.child import SAFE_PATH  # noqa: E402
from mnist_mlp.bench.sides import describe_side  # noqa: E402
from mnist_mlp.errors import UsageError  # noqa: E402

BUDGET_S = 60.0


def run_once(side, out: Path, extra: list[str]) -> dict:
    """One quick run of ``side`` into ``out``; its wall seconds and its own timing."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / "terminal.log"
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as stream:
        done = subprocess.run([*side.argv, "-m", "mnist_mlp", "bench", "--profile", "quick", "--out", str(out), *extra],
                              stdout=stream, stderr=subprocess.STDOUT, check=False, env={**os.environ, **SAFE_PATH})
    wall = time.perf_counter() - started
    found = sorted(out.glob("*/results.json"))
    timing = json.loads(found[-1].read_text(encoding="utf-8")).get("timing") if found else None
    statuses: dict[str, int] = {}
    if found:
        for case in json.loads(found[-1].read_text(encoding="utf-8"))["cases"]:
            statuses[case["status"]] = statuses.get(case["status"], 0) + 1
    return {"side": side.label, "folder": out.name, "exit": done.returncode, "wall_s": round(wall, 2),
            "timing": timing, "cases": statuses}


def markdown(record: dict) -> str:
    lines = [f"# Quick profile wall time, {record['created_utc']}", "",
             f"Command: `{record['command']}`", ""]
    for label, side in record["sides"].items():
        lines.append(f"- {label}: `{side['command']}` (commit {side['commit']})")
    lines += ["", "| run | side | wall s | took s | set-up s | cases s | reports s | exit | cases |",
              "|---|---|---|---|---|---|---|---|---|"]
    for run in record["runs"]:
        t = run["timing"] or {}
        lines.append(f"| {run['folder']} | {run['side']} | {run['wall_s']:.1f} | {t.get('total_s', '–')} | "
                     f"{t.get('setup_s', '–')} | {t.get('cases_s', '–')} | {t.get('report_s', '–')} | {run['exit']} | "
                     f"{', '.join(f'{n} {k}' for k, n in sorted(run['cases'].items()))} |")
    lines += ["", f"Median wall seconds: A {record['median_wall_s']['A']:.1f}, B {record['median_wall_s']['B']:.1f} "
              f"(budget {BUDGET_S:g} s); runs of B within the budget: {record['b_within_budget']} of {len(record['ratios'])}.",
              f"Paired ratios B/A (wall): {', '.join(f'{r:.3f}' for r in record['ratios'])}; median {record['median_ratio']:.3f}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="the command that starts side A's Python")
    parser.add_argument("--b", required=True, help="the command that starts side B's Python")
    parser.add_argument("--pairs", type=int, default=3, help="A/B pairs, alternating (default 3)")
    parser.add_argument("--out", type=Path, required=True, help="where the runs, quick_wall.json and quick_wall.md go")
    args, extra = parser.parse_known_args(argv)
    if args.pairs < 1:
        print("quick_wall: --pairs must be at least 1", file=sys.stderr)
        return 2
    try:
        sides = [describe_side("A", args.a), describe_side("B", args.b)]
    except UsageError as exc:
        print(f"quick_wall: {exc}", file=sys.stderr)
        return 2
    runs = []
    for pair in range(1, args.pairs + 1):
        for side in sides:
            run = run_once(side, args.out / f"{side.label.lower()}-{pair}", extra)
            runs.append(run)
            print(f"{run['folder']}: {run['wall_s']:.1f} s wall (exit {run['exit']})", flush=True)
    walls = {label: [r["wall_s"] for r in runs if r["side"] == label] for label in ("A", "B")}
    ratios = [b / a for a, b in zip(walls["A"], walls["B"])]
    record = {
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python benchmarks/quick_wall.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "sides": {s.label: {"command": s.command, "commit": s.facts.get("commit")} for s in sides},
        "runs": runs, "median_wall_s": {k: statistics.median(v) for k, v in walls.items()},
        "ratios": [round(r, 4) for r in ratios], "median_ratio": statistics.median(ratios),
        "budget_s": BUDGET_S, "b_within_budget": sum(w <= BUDGET_S for w in walls["B"]),
    }
    (args.out / "quick_wall.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (args.out / "quick_wall.md").write_text(markdown(record), encoding="utf-8")
    print(markdown(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
