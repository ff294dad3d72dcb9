"""The power table of ``mnist-mlp ab`` with the quick profile: how often an A/A session flags
anything, and how often a slowdown of a known size is caught, measured and resampled.

    python benchmarks/ab_power_table.py --aa reports/calibration/ab/aa/ab-* \\
        --slowed torch --session 2=reports/calibration/ab/torch-2x-calls/ab-* \\
        --session 1.25=reports/calibration/ab/torch-1.25x-calls/ab-* \\
        --out reports/calibration/ab/power

Two kinds of rows:

* **measured**: each committed session judged as ``ab`` judged it (``ab_power.judge_session``):
  an A/A session's flagged figures, a slowed session's caught figures of the slowed backend
  (``benchmarks/slowdown.py``) and its false flags elsewhere.
* **resampled**: sessions of ``--pairs`` distinct pairs drawn from the pairs the A/A sessions
  measured (every combination, ``draws``): a whole pair at a time, so the figures of one moment
  stay together, as they were measured. Side B's figures of the ``--slowed`` backend are then made FACTOR times
  slower (times multiplied, rates divided) and every drawn session is judged by ``ab``'s own rule
  (``compare.paired``: the paired t-test, Benjamini-Hochberg over the session, the 5% factor).
  It estimates the share of sessions that flag anything at factor 1 (the false-alarm rate), and
  the share caught (the rule applied to all drawn sessions at once, ``judge_drawn``) three ways:
  the slowdown (at least one slowed figure judged slower), each slowed case (at least one of its
  own figures), each slowed figure.
  The drawn sessions share pairs, so they are not independent: an estimate beside the measured
  sessions, not instead of them.

Writes ``OUT/power.json`` and ``OUT/power.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from mnist_mlp import results
from mnist_mlp.compare.judge import ALPHA, MIN_RELATIVE_CHANGE
from mnist_mlp.compare.paired import pairs_of
from mnist_mlp.errors import ResultFileError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_power import judge_session  # noqa: E402


def measured_pairs(sessions: list[Path]) -> tuple[list[tuple[str, Any]], list[dict[tuple[str, Any], float]]]:
    """Every pair of the A/A sessions as {(case, metric): log ratio B/A}, and the figures they share."""
    pairs: list[dict[tuple[str, Any], float]] = []
    for session in sessions:
        runs = {side: results.load(session / side) for side in ("A", "B")}
        cases_b = {case["id"]: case for case in runs["B"]["cases"]}
        per_pair: dict[int, dict[tuple[str, Any], float]] = {}
        for case in runs["A"]["cases"]:
            if case["id"] not in cases_b:
                continue
            for metric, (a, b) in pairs_of(case, cases_b[case["id"]]).items():
                for index, (va, vb) in enumerate(zip(a, b)):
                    per_pair.setdefault(index, {})[(case["id"], metric)] = math.log(vb / va)
        pairs += [per_pair[index] for index in sorted(per_pair)]
    shared = sorted(set.intersection(*(set(p) for p in pairs)), key=lambda key: (key[0], key[1].key)) if pairs else []
    return shared, pairs


def judge_drawn(logs: np.ndarray, kinds: np.ndarray, factor: float = MIN_RELATIVE_CHANGE,
                alpha: float = ALPHA) -> np.ndarray:
    """``ab``'s rule (``compare.paired``) over many drawn sessions at once: ``logs`` is (sessions,
    figures, pairs) of log ratios B/A, ``kinds`` each figure's +1 (time) or -1 (rate). Returns
    (sessions, figures): +1 slower, -1 faster, 0 within noise. The paired t-test on the log
    ratios, Benjamini-Hochberg over each session's figures, the factor on the geometric-mean ratio;
    ``tests/test_ab_power.py`` checks it against ``compare.paired.judge_pairs`` row by row."""
    from scipy.stats import false_discovery_control, t as student_t

    n = logs.shape[-1]
    mean, sd = logs.mean(axis=-1), logs.std(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stat = mean / (sd / math.sqrt(n))
    p = np.where(sd > 0, 2.0 * student_t.sf(np.abs(t_stat), n - 1), 1.0)
    q = false_discovery_control(p, axis=-1, method="bh")
    changed = (q < alpha) & (np.abs(np.exp(mean) - 1.0) >= factor)
    return np.where(changed, np.sign(mean) * kinds, 0).astype(int)


def draws(pool: int, n_pairs: int, trials: int, seed: int) -> np.ndarray:
    """Sessions of ``n_pairs`` distinct measured pairs: every combination where there are at most
    ``trials`` of them (C(10, 5) = 252 for two 5-pair sessions), else ``trials`` drawn at random.
    Never the same pair twice in a session: a repeated pair would shrink the spread the t-test
    sees and flag noise (drawing with replacement flagged 19% of A/A sessions where the measured
    ones flagged none)."""
    if math.comb(pool, n_pairs) <= trials:
        return np.array(list(itertools.combinations(range(pool), n_pairs)))
    rng = np.random.default_rng(seed)
    return np.array([rng.choice(pool, size=n_pairs, replace=False) for _ in range(trials)])


def resample(figures: list[tuple[str, Any]], pairs: list[dict], backend_of: dict[str, str], slowed: str,
             factor: float, n_pairs: int, trials: int, seed: int) -> dict[str, Any]:
    """``trials`` drawn sessions at ``factor``: the share flagging any figure not slowed, and the
    share caught three ways: the slowdown (any slowed figure judged slower), per slowed case (any
    of its own figures), per slowed figure. At factor 1 nothing is slowed: no slowdown share."""
    measured = np.array([[pair[key] for key in figures] for pair in pairs])  # (pairs, figures)
    kinds = np.array([1.0 if metric.kind == "time" else -1.0 for _, metric in figures])
    target = np.array([backend_of[case] == slowed for case, _ in figures])
    drawn = measured[draws(len(pairs), n_pairs, trials, seed)]  # (sessions, pairs, figures)
    trials = len(drawn)
    logs = np.swapaxes(drawn, 1, 2) + np.where(target, kinds * math.log(factor), 0.0)[None, :, None]
    verdicts = judge_drawn(logs, kinds)
    false_alarm = float(np.mean(np.any(verdicts[:, ~target] != 0, axis=1)))
    shares = {f"{case} {metric.label}": float(np.mean(verdicts[:, index] == 1))
              for index, (case, metric) in enumerate(figures) if target[index]}
    slower = verdicts == 1
    case_of = np.array([case for case, _ in figures])
    case_shares = {str(case): float(np.mean(np.any(slower[:, target & (case_of == case)], axis=1)))
                   for case in sorted(set(case_of[target]))}
    return {"factor": factor, "pairs": n_pairs, "trials": trials, "false_alarm_share": false_alarm,
            "caught_share": shares, "caught_share_min": min(shares.values()) if shares and factor > 1 else None,
            # the slowdown caught: the session judges at least one slowed figure slower
            "slowdown_caught_share": float(np.mean(np.any(slower[:, target], axis=1))) if target.any() and factor > 1 else None,
            # each slowed case caught: at least one of its own figures judged slower
            "case_caught_share": case_shares if factor > 1 else {}}


def _least(shares: dict[str, float]) -> str:
    case = min(shares, key=lambda name: (shares[name], name))
    return f"{shares[case]:.1%} ({case})"


def table(measured: list[dict[str, Any]], resampled: list[dict[str, Any]], slowed: str, command: str) -> str:
    lines = ["# Power of `mnist-mlp ab` (quick profile, default pairs)", "", f"Made by `{command}`.", "",
             "## Measured sessions", ""]
    lines.append(tabulate(
        [[Path(row["session"]).parent.name + "/" + Path(row["session"]).name, row["factor"], row["pairs"],
          f"{row['caught']} of {row['slowed_figures']}" if row["slowed_figures"] else "-",
          f"{row['flagged_elsewhere']} of {row['figures'] - row['slowed_figures']}",
          "fail" if row["slowdowns_over_10pct"] else "pass"] for row in measured],
        headers=["session", "slowdown", "pairs", f"{slowed} figures caught", "other figures flagged",
                 "--fail-if-slower 10"], tablefmt="github"))
    lines += ["", "## Resampled from the A/A sessions' pairs", "",
              f"Caught, three ways: the slowdown (the session judges at least one {slowed} figure slower), "
              f"each {slowed} case (at least one of its own figures slower), each {slowed} figure.", ""]
    lines.append(tabulate(
        [[f"x{row['factor']:g}", row["pairs"], row["trials"], f"{row['false_alarm_share']:.1%}",
          "-" if row["factor"] == 1 or row.get("slowdown_caught_share") is None else f"{row['slowdown_caught_share']:.1%}",
          "-" if row["factor"] == 1 or not row.get("case_caught_share") else _least(row["case_caught_share"]),
          "-" if row["caught_share_min"] is None else f"{row['caught_share_min']:.1%}",
          "-" if row["factor"] == 1 else f"{sum(v >= 0.95 for v in row['caught_share'].values())} of {len(row['caught_share'])}"]
         for row in resampled],
        headers=["slowdown", "pairs", "sessions drawn", "sessions flagging another figure", "slowdown caught",
                 f"least-caught {slowed} case", f"least-caught {slowed} figure", f"{slowed} figures caught in >= 95%"],
        tablefmt="github"))
    for row in resampled:
        if row["factor"] > 1:
            lines += ["", f"x{row['factor']:g}, per {slowed} case (any of its figures) and per figure:", ""]
            lines.append(tabulate(sorted(([k, f"{v:.1%}"] for k, v in (row.get("case_caught_share") or {}).items()), key=lambda r: r[0]),
                                  headers=["case", "caught"], tablefmt="github"))
            lines.append("")
            lines.append(tabulate(sorted(([k, f"{v:.1%}"] for k, v in row["caught_share"].items()), key=lambda r: r[0]),
                                  headers=["figure", "caught"], tablefmt="github"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aa", nargs="+", type=Path, required=True, help="A/A ab session folders")
    parser.add_argument("--session", action="append", default=[], metavar="FACTOR=FOLDER",
                        help="a session whose side B slowed --slowed by FACTOR (repeatable)")
    parser.add_argument("--slowed", default="torch", help="the backend slowed (default torch)")
    parser.add_argument("--factors", default="1,1.25,1.5,2", help="slowdowns to resample (default 1,1.25,1.5,2)")
    parser.add_argument("--pairs", type=int, default=5, help="pairs per drawn session (default 5, ab's default)")
    parser.add_argument("--trials", type=int, default=2000, help="drawn sessions per factor (default 2000)")
    parser.add_argument("--out", type=Path, required=True, help="folder for power.json and power.md")
    args = parser.parse_args(argv)
    try:
        factors = [float(f) for f in args.factors.split(",")]
        sessions = [(float(spec.split("=", 1)[0]), Path(spec.split("=", 1)[1])) for spec in args.session]
    except (ValueError, IndexError):
        parser.error("--factors: numbers separated by commas; --session: FACTOR=FOLDER")
    try:
        measured = [{**judge_session(s, args.pairs, None), "factor": 1.0} for s in args.aa]
        measured += [{**judge_session(s, args.pairs, args.slowed), "factor": f} for f, s in sessions]
        figures, pairs = measured_pairs(args.aa)
        backend_of = {case["id"]: case["backend"] for case in results.load(args.aa[0] / "A")["cases"]}
    except ResultFileError as exc:
        print(f"ab_power_table.py: not an ab session with A/ and B/ runs ({exc})", file=sys.stderr)
        return 2
    resampled = [resample(figures, pairs, backend_of, args.slowed, f, args.pairs, args.trials, seed=index)
                 for index, f in enumerate(factors)]
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/ab_power_table.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (args.out / "power.json").write_text(json.dumps({"command": command, "measured": measured,
                                                     "resampled": resampled}, indent=1) + "\n", encoding="utf-8")
    text = table(measured, resampled, args.slowed, command)
    (args.out / "power.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
