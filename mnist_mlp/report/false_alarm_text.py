"""The gate's out-of-sample false alarms as Markdown; the counts are data in
``mnist_mlp.gate.false_alarms`` (``FalseAlarmReport``)."""

from __future__ import annotations

import statistics

from tabulate import tabulate

from mnist_mlp.report.tables import seed_span

from mnist_mlp.gate.false_alarms import FalseAlarmReport, chance_of_at_least, upper_bound


def seeds_table(report: FalseAlarmReport) -> str:
    body = []
    for group, accuracies in report.accuracies.items():
        finite = [a for a in accuracies if a is not None]
        body.append([group, seed_span(report.seeds[group]), len(accuracies),
                     ", ".join("NaN/missing" if a is None else f"{a * 100:.2f}" for a in accuracies),
                     f"{statistics.fmean(finite):.2%}" if finite else "-",
                     f"{statistics.stdev(finite):.2%}" if len(finite) > 1 else "-"])
    return tabulate(body, ["case", "seeds", "n", "test accuracy per seed (%)", "mean", "stddev"], tablefmt="github", disable_numparse=True)


def counts_table(report: FalseAlarmReport) -> str:
    body = []
    for what in report.kinds:
        failures, checks = report.count(what)
        body.append([what, checks, failures, f"{report.alpha * checks:.2f}",
                     f"{chance_of_at_least(failures, checks, report.alpha):.2f}", f"{upper_bound(failures, checks):.1%}"])
    headers = ["check (healthy run of ...)", "checks", "gate failed", f"expected at {report.alpha:.0%}",
               f"P(>= that many at {report.alpha:.0%})", "95% upper bound on the rate"]
    return tabulate(body, headers, tablefmt="github", disable_numparse=True)


def _rate(rate: float) -> str:
    """A model rate; below 1 in 10,000 the simulation behind it cannot tell it from smaller."""
    return "< 0.01%" if rate < 1e-4 else f"{rate:.2%}"


def fitted_text(report: FalseAlarmReport) -> str:
    f = report.fitted
    if f is None:
        return ""
    rates = ", ".join(f"{n} seed{'s' * (n > 1)} {_rate(rate)}" for n, rate in f.implied.items())
    return (
        f"Pooled, the {f.n} unseen seeds have mean {f.mean:.2%} and standard deviation {f.stddev:.2%}; the "
        f"calibration's {f.calibration_n} seeds had {f.calibration_mean:.2%} and {f.calibration_stddev:.2%} "
        f"(Welch's t-test p = {f.welch_p:.2f}). Seeds drawn from a normal with the unseen seeds' mean and "
        f"spread would fail the gate, as one-group runs, at these rates: {rates} "
        f"(the promise: at most {report.alpha:.0%})."
    )


def false_alarm_markdown(report: FalseAlarmReport, command: str) -> str:
    failed = [c for c in report.checks if c.failed]
    lines = [
        "# The accuracy gate out of sample",
        "",
        f"Made by `{command}`. Runs: {', '.join(f'`{r}`' for r in report.runs)}; thresholds: {report.thresholds_label}. "
        f"Every seed here is one the calibration never saw. The gate promises that a healthy run fails at most "
        f"{report.alpha:.0%} of the time; each row below counts healthy runs it judged.",
        "",
        seeds_table(report),
        "",
        counts_table(report),
        "",
        fitted_text(report),
        "",
        "*run*: each backend x device of the runs as made (their own seed counts and groups). *n seeds*: the "
        "seeds cut in seed order into disjoint one-group runs of n. Checks of different sizes reuse the same "
        "seeds, so the rows are not independent of one another. A few dozen checks cannot show a rate as low as "
        "1%; they can contradict it (a small P) or not.",
    ]
    if failed:
        lines += ["", "Failed checks:", ""] + [f"- {c.what}, {c.group} seeds {c.seeds}: {'; '.join(c.why)}" for c in failed]
    return "\n".join(lines) + "\n"
