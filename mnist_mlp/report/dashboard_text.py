"""The dashboard's "Changes" as plain text: what a reader copies into an issue or a chat.

One block per machine, one line per run against the earlier run compare judged it against, one
line per difference ``mnist-mlp compare`` marks beyond noise (its own label, ratio and evidence),
then the peaks compare says changed, compare's sentence of what moved (the machine, the framework,
both or neither: ``compare_text.movement_sentence``, the words of ``compare.md``) and what differs
in the setup. The line formats are fixed (the browser test
reads them back): ``    <case> <metric>: <verdict>, ratio <r>  (<evidence>)``.
"""

from __future__ import annotations

from typing import Sequence

from mnist_mlp.dashboard.changes import Step
from mnist_mlp.report.compare_text import movement_sentence

HEADER = ("Changes between runs of the same machine (same host name, CPU model and GPUs), oldest first; "
          "each run against the latest earlier comparable run, judged by mnist-mlp compare")


def change_line(case: str, metric: str, verdict: str, ratio: float | None, evidence: str) -> str:
    shown = "n/a" if ratio is None else f"{ratio:.3f}"
    return f"    {case} {metric}: {verdict}, ratio {shown}" + (f"  ({evidence})" if evidence else "")


def changes_text(steps: Sequence[Step]) -> str:
    lines = [HEADER, ""]
    if not steps:
        lines.append("No machine has two runs yet.")
    machine = None
    for step in steps:
        if step.machine != machine:
            if machine is not None:
                lines.append("")
            machine = step.machine
            lines.append(machine)
        if step.earlier is None:
            lines.append(f"  {step.later} ({step.later_created}): {step.why_alone}")
            continue
        lines.append(f"  {step.earlier} ({step.earlier_created}) -> {step.later} ({step.later_created})")
        if not step.changes and (step.movement is None or step.movement.moved != "unknown"):
            lines.append("    no difference beyond noise")  # (when no row could be tested, compare's sentence says so)
        lines += [change_line(c.case, c.metric, c.verdict, c.ratio, c.evidence) for c in step.changes]
        lines += [f"    peak {p.case}: {p.before:.1f} -> {p.after:.1f} GFLOP/s ({p.percent:+.1f}%), the machine's own speed changed"
                  for p in step.peaks]
        if step.movement is not None:
            lines.append(f"    {movement_sentence(step.movement)}")
        lines += [f"    differs: {d}" for d in step.differences]
    return "\n".join(lines) + "\n"
