"""What committed ``mnist-mlp ab`` sessions caught: per session, the figures flagged, and the same
judgment on its first K pairs (what a session of K pairs would have measured, in the same order).

    python benchmarks/ab_power.py reports/calibration/ab/aa/ab-* reports/calibration/ab/torch-2x/ab-* --pairs 3,4,5
    python benchmarks/ab_power.py SESSION... --pairs 4,5 --slowed torch --json power.json

``--slowed BACKEND`` names the backend whose cases side B slowed (``benchmarks/slowdown.py``): its
figures are the ones to catch (caught: judged slower), every other figure must stay unflagged.
An A/A session has no slowed backend: any flagged figure is a false alarm.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mnist_mlp import results
from mnist_mlp.errors import ResultFileError
from mnist_mlp.compare.paired import judge_pairs


def first_pairs(run: dict[str, Any], pairs: int) -> dict[str, Any]:
    """The run as a session of its first ``pairs`` pairs would have left it."""
    out = dict(run)
    out["cases"] = [{**case, "repeats": [r for r in case.get("repeats") or [] if int(r.get("repeat", 0)) <= pairs]}
                    for case in run.get("cases") or []]
    return out


def judge_session(session: Path, pairs: int, slowed: str | None) -> dict[str, Any]:
    runs = {side: results.load(session / side) for side in ("A", "B")}
    judgment = judge_pairs(first_pairs(runs["A"], pairs), first_pairs(runs["B"], pairs))
    backend = {case["id"]: case["backend"] for case in runs["A"]["cases"]}
    target = [row for row in judgment.rows if slowed and backend.get(row.case) == slowed]
    others = [row for row in judgment.rows if row not in target]
    return {
        "session": str(session), "pairs": pairs, "figures": len(judgment.rows),
        "flagged_elsewhere": sum(1 for row in others if row.significant),
        "slowed_figures": len(target), "caught": sum(1 for row in target if row.label == "slower"),
        "ratios": sorted(round(row.ratio, 3) for row in target if row.ratio is not None),
        "slowdowns_over_10pct": len(judgment.slowdowns(10.0)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sessions", nargs="+", type=Path, help="ab session folders (each with A/ and B/)")
    parser.add_argument("--pairs", default="5", help="comma-separated numbers of pairs to judge on (default 5)")
    parser.add_argument("--slowed", help="the backend side B slowed (omit for A/A sessions)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    try:
        counts = [int(p) for p in args.pairs.split(",")]
    except ValueError:
        parser.error(f"--pairs: whole numbers separated by commas, got {args.pairs!r}")
    rows = []
    for session in args.sessions:
        for pairs in counts:
            try:
                row = judge_session(session, pairs, args.slowed)
            except ResultFileError as exc:
                print(f"ab_power.py: {session}: not an ab session with A/ and B/ runs ({exc})", file=sys.stderr)
                return 2
            rows.append(row)
            what = (f"{row['caught']} of {row['slowed_figures']} slowed figures caught (ratios {row['ratios'][0]}"
                    f" to {row['ratios'][-1]}), " if row["slowed_figures"] else "")
            print(f"{session.name} with {pairs} pairs: {what}{row['flagged_elsewhere']} other figure(s) flagged of "
                  f"{row['figures'] - row['slowed_figures']}; --fail-if-slower 10 would "
                  f"{'fail' if row['slowdowns_over_10pct'] else 'pass'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
