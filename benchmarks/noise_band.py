"""Derive the run-to-run noise band from repeated runs of one commit on one machine.

    python benchmarks/noise_band.py reports/calibration/noise/quick/* reports/calibration/noise/full/* \
        --out reports/calibration/noise_band.json [--install]

Each argument is a run folder (or its results.json). The band holds, per profile, case and metric,
the standard deviation of one run's value over the runs (log scale for times and rates, accuracy
points for accuracy), absolute and per unit of the case's measured peak (``mnist_mlp.compare.noise``).
``--install`` also copies it to ``mnist_mlp/compare/noise_band.json``, the band compare reads by default.
Runs of different commits or hosts are refused: the band is one machine's noise, not a drift.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

from mnist_mlp import results
from mnist_mlp.compare.noise import PACKAGED_BAND, derive_band


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("reports/calibration/noise_band.json"))
    parser.add_argument("--install", action="store_true", help="copy the band to mnist_mlp/compare/noise_band.json")
    parser.add_argument("--allow-mixed", action="store_true", help="accept runs of several commits or hosts")
    args = parser.parse_args(argv)
    runs = [results.load(path) for path in args.runs]
    commits = {(r.get("tool") or {}).get("commit") for r in runs}
    hosts = {(r.get("machine") or {}).get("host") for r in runs}
    if (len(commits) > 1 or len(hosts) > 1) and not args.allow_mixed:
        print(f"noise_band: runs of {len(commits)} commits and {len(hosts)} hosts; the band is one commit on one "
              f"machine (--allow-mixed to accept)", file=sys.stderr)
        return 2
    command = "python benchmarks/noise_band.py " + " ".join(shlex.quote(str(p)) for p in args.runs) + f" --out {args.out}"
    band = derive_band(runs, command=command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(band, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    for profile, entry in band["profiles"].items():
        print(f"{profile}: {len(entry['runs'])} runs, {sum(1 for k in entry['metrics'] if not k.startswith('*'))} figures")
    print(f"wrote {args.out}")
    if args.install:
        shutil.copyfile(args.out, PACKAGED_BAND)
        print(f"installed as {PACKAGED_BAND}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
