"""The dashboard's first screen, drawn: per machine, one sorted horizontal bar chart per question
(``mnist_mlp.dashboard.verdict``), a bar per case with its figure and spread written on it, the
cases grouped by implementation family (the axis' first level), and the answer above each chart.

Texts from a results.json (case ids, run names, machine names) are escaped for Plotly
(``dashboard_charts.label``) and for HTML (``html.escape``) like everywhere on the page.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import plotly.graph_objects as go

from mnist_mlp.dashboard.verdict import FAMILIES, MachineVerdict, Question
from mnist_mlp.report.dashboard_charts import AXIS, label

FAMILY_COLOURS = {"Keras": "#4a6fa5", "native": "#2e8b57", "runtimes": "#c0762a"}
FAIL_COLOUR = "#b00020"
#: the page's unit for each question's values (the gate's accuracies are fractions, shown in %)
SCALE = {"%": 100.0}
BAR_PX = 21  # height per bar: the text on it stays readable
#: the narrowest plot area (a 600 px cell, dashboard.css, less the case labels) and an 11 px
#: character: the axis leaves room for each bar's text past its end
PLOT_PX, TEXT_PX = 370, 5.6
DIGITS = 5


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _r(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.{DIGITS}g}")


def plotted(question: Question) -> list[float | None]:
    """The bars' values as the chart draws them (``SCALE``), in the chart's order."""
    scale = SCALE.get(question.unit, 1.0)
    return [_r(bar.value * scale) for bar in question.bars]


def figure(question: Question) -> go.Figure:
    scale = SCALE.get(question.unit, 1.0)
    fig = go.Figure()
    for family in FAMILIES:
        bars = [bar for bar in question.bars if bar.family == family]
        if not bars:
            continue
        has_error = any(bar.minus is not None or bar.plus is not None for bar in bars)
        y = [[family] * len(bars), [label(bar.case) for bar in bars]]
        fig.add_trace(go.Bar(
            orientation="h", name=family, y=y, x=[_r(bar.value * scale) for bar in bars],
            text=[label(bar.text) for bar in bars], textposition="none",
            marker=dict(color=[FAIL_COLOUR if bar.passed is False else FAMILY_COLOURS[family] for bar in bars]),
            error_x=dict(type="data", symmetric=False, visible=has_error, thickness=1.2, width=3, color="#444",
                         array=[_r((bar.plus or 0) * scale) for bar in bars],
                         arrayminus=[_r((bar.minus or 0) * scale) for bar in bars]),
            customdata=[[label(bar.case), label(bar.run)] for bar in bars],
            hovertemplate=f"%{{customdata[0]}} ({family})<br>%{{text}}<br>run: %{{customdata[1]}}<extra></extra>",
        ))
        # the figure and its spread, written just past the bar's end or its whisker's
        fig.add_trace(go.Scatter(
            mode="text", y=y, x=[_r((bar.value + (bar.plus or 0)) * scale) for bar in bars], showlegend=False,
            text=[label(bar.text) for bar in bars], textposition="middle right", cliponaxis=False, hoverinfo="skip",
            textfont=dict(size=11, color="#222"),
        ))
    highs = [(bar.value + (bar.plus or 0)) * scale for bar in question.bars]
    low_end = 0.0
    if question.unit == "%":  # accuracies sit within a few points: the axis starts near them
        low_end = max(0.0, min((bar.value - (bar.minus or 0)) * scale for bar in question.bars) - 1.0)
        low_end = float(int(low_end * 2)) / 2
    span = max(max(highs) - low_end, 1e-9)  # one bar of zero still gets an axis
    room = max([(high - low_end) / span / max(1.0 - TEXT_PX * len(bar.text) / PLOT_PX, 0.2)
                for bar, high in zip(question.bars, highs)] + [1.3])
    fig.update_layout(
        template="none", height=48 + 34 + BAR_PX * len(question.bars) + 6 * len({b.family for b in question.bars}),
        margin=dict(l=8, r=12, t=8, b=34), plot_bgcolor="#fff", paper_bgcolor="#fff", showlegend=False,
        font=dict(family="system-ui, sans-serif", size=12), bargap=0.25,
        hoverlabel=dict(align="left"),
    )
    fig.update_xaxes(**AXIS, range=[low_end, low_end + span * min(room, 3.0)], title=dict(text=_axis_title(question), standoff=4),
                     tickfont=dict(size=10))
    fig.update_yaxes(**{**AXIS, "showline": False}, autorange="reversed", tickfont=dict(size=11))
    return fig


def _axis_title(question: Question) -> str:
    better = "lower is better" if question.lower_is_better else "higher is better"
    return f"{question.unit} ({better})"


def answer(question: Question) -> str:
    """``fastest: jax-cpu-native-fast, 0.237 ms · 1 seed`` (plain text; the page escapes it)."""
    best = question.best
    if best is None:
        return "no figure"
    word = "best" if question.key == "gate" else ("fastest" if question.key != "serve-throughput" else "highest")
    if question.key == "gate":
        failed = [bar for bar in question.bars if bar.passed is False]
        if failed:
            return f"FAIL: {', '.join(b.case for b in failed)}"
        return ("pass: the one case" if len(question.bars) == 1 else f"pass: all {len(question.bars)} cases") + f"; {word}: {best.case}"
    return f"{word}: {best.case}, {best.text}"


def chart_id(machine: int, question: Question) -> str:
    return f"verdict-{machine}-{question.key}"


def section(found: Sequence[MachineVerdict], first_index: int) -> tuple[str, list[go.Figure]]:
    """The verdict section's HTML and its figures (drawn into ``div.chart`` whose ``data-chart``
    counts from ``first_index`` in the page's list of charts)."""
    figures: list[go.Figure] = []
    parts = []
    for m, machine in enumerate(found):
        cells, empty = [], []
        for question in machine.questions:
            if not question.bars:  # one line below the charts, not an empty cell among them
                empty.append(f"<strong>{_e(question.title)}</strong> ({_e('; '.join(question.missing))})")
                continue
            missing = "".join(f"<li>{_e(why)}</li>" for why in question.missing)
            index = first_index + len(figures)
            figures.append(figure(question))
            chart = (f'<div class="chart verdict-chart" id="chart-{chart_id(m, question)}" data-chart="{index}" '
                     f'data-question="{_e(question.key)}" role="img" aria-label="{_e(question.title)}: {_e(answer(question))}"></div>')
            cells.append(
                f'<figure class="verdict-cell" data-question="{_e(question.key)}">'
                f'<figcaption><strong>{_e(question.title)}</strong> <span class="answer">{_e(answer(question))}</span>'
                f'<small>{_e(question.note)}</small></figcaption>{chart}'
                + (f'<details class="missing"><summary>{len(question.missing)} without a bar</summary><ul>{missing}</ul></details>' if missing else "")
                + "</figure>")
        runs = ", ".join(f"<code>{_e(name)}</code>" for name in machine.sources) or "none"
        gate_class = "gate-fail" if "FAIL" in machine.gate else ("gate-pass" if "pass" in machine.gate else "")
        parts.append(
            f'<div class="verdict-machine" data-machine="{m}"><h3>{_e(machine.machine)} '
            f'<span class="gate-word {gate_class}">{_e(machine.gate)}</span></h3>'
            f'<div class="verdict-grid">{"".join(cells)}</div>'
            + (f'<p class="no-bars">Nothing to show here for: {"; ".join(empty)}.</p>' if empty else "")
            + f'<p class="sources">From {runs}; each bar names its run (hover).</p></div>')
    if not parts:
        parts.append("<p>No run has a figure to show yet: <code>mnist-mlp bench</code> writes one into the reports folder.</p>")
    return "\n".join(parts), figures
