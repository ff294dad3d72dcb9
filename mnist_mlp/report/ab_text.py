"""``mnist-mlp ab``'s words: ``ab.md`` and the table printed at the end; the decision is
``compare.paired``'s data."""

from __future__ import annotations

from typing import Any, Mapping

from tabulate import tabulate

from mnist_mlp.compare.paired import CONFIDENCE, TEST, PairedJudgment, PairedRow


def _value(row: PairedRow, values: list[float]) -> str:
    from statistics import median

    middle = median(values)
    return f"{middle:,.0f}" if row.metric.kind == "rate" else f"{middle:.4g}"


def _interval(row: PairedRow) -> str:
    return "—" if row.low is None else f"x{row.low:.3f} to x{row.high:.3f}"


def _evidence(row: PairedRow) -> str:
    if row.p_value is None:
        return row.why
    return f"p={row.p_value:.2g}, q={row.q_value:.2g}" if row.q_value is not None else f"p={row.p_value:.2g}"


def table(judgment: PairedJudgment) -> tuple[list[str], list[list[str]]]:
    headers = ["case", "figure", "unit", "pairs", "A (median)", "B (median)", "B/A", f"{CONFIDENCE:.0%} interval",
               "verdict", "evidence"]
    body = [[row.case, row.figure, row.metric.unit, str(row.pairs), _value(row, row.a), _value(row, row.b),
             "—" if row.ratio is None else f"x{row.ratio:.3f}", _interval(row), row.label, _evidence(row)]
            for row in judgment.rows]
    return headers, body


def summary(judgment: PairedJudgment) -> str:
    counts = judgment.counts()
    parts = [f"{counts.get(label, 0)} {label}" for label in ("slower", "faster", "within noise", "not tested")]
    return (f"{len(judgment.rows)} figures: " + ", ".join(parts) + f" (B against A; {TEST}, Benjamini-Hochberg at "
            f"{judgment.alpha:g}, a change counts from {judgment.factor:.0%})")


def _passes_text(judgment: PairedJudgment) -> str:
    if not any(row.passes > 1 for row in judgment.rows):
        return ""
    return (" A figure measured in passes (\"best of N passes\") enters each pair as its process's best pass: a "
            "shared machine runs slow in spells of a fraction of a second to a second or so, which hit a pass but rarely all of "
            "them; the run's own report shows the figure over all its passes.")


def ab_markdown(judgment: PairedJudgment, session: Mapping[str, Any], fail_if_slower: float | None,
                slowdowns: list[str]) -> str:
    """``ab.md``: the two sides, the rule, the summary, every figure's verdict, what was missing."""
    lines = ["# A/B session", ""]
    lines += [tabulate([[label, side["command"], side.get("commit") or "—", side["run_dir"]]
                        for label, side in session["sides"].items()],
                       headers=["side", "command", "commit", "run folder"], tablefmt="github"), ""]
    lines += [
        f"{session['pairs']} pairs on {session['machine']}, {session['profile']} profile. In every pair each case ran on "
        f"both sides back to back, each in a fresh process (A first in odd pairs, B first in even ones). Each figure "
        f"is judged on its pairs' ratios B/A: {TEST} (two-sided), the false discovery rate controlled over every "
        f"figure of the session (Benjamini-Hochberg, q < {judgment.alpha:g}), and a change counts only when the "
        f"ratio differs from 1 by at least {judgment.factor:.0%} (as asv's --factor). The ratio is the geometric "
        f"mean of the pairs' ratios, with its {CONFIDENCE:.0%} t interval." + _passes_text(judgment), "",
        f"**{summary(judgment)}**", "",
    ]
    if fail_if_slower is not None:
        lines += [f"--fail-if-slower {fail_if_slower:g}: " + (
            f"{len(slowdowns)} confirmed slowdown(s) beyond the limit:" if slowdowns else "no confirmed slowdown beyond the limit."), ""]
        lines += [f"- {line}" for line in slowdowns] + ([""] if slowdowns else [])
    lines += [tabulate(table(judgment)[1], headers=table(judgment)[0], tablefmt="github"), ""]
    if judgment.missing:
        lines += ["Not judged:", ""] + [f"- {line}" for line in judgment.missing] + [""]
    return "\n".join(lines)
