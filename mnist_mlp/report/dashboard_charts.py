"""The dashboard's charts as Plotly figures (JSON specs the page draws with plotly.js).

Every text that comes from a results.json (run names, case ids, inference paths) is escaped
(``label``) before it reaches a trace name, hover text or tick label: Plotly renders a subset of
HTML in those strings (``<b>``, ``<a href>``, ``<br>``), so an unescaped host name could draw a
link or break the label. Hover text goes through ``text`` and ``hovertemplate="%{text}"`` only,
or through the trace's ``meta`` and ``%{meta}`` (one header per trace, not per point: it keeps the
page small), or a seed through ``customdata`` (``_seed``: a number, or escaped text), so a
``%{...}`` inside a run's name is shown, not substituted (Plotly substitutes once).
Numbers are rounded to ``DIGITS`` significant digits. Each case keeps one colour on every
chart (``colours``); inference paths differ by dash, runs by marker symbol.
"""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative

from mnist_mlp.dashboard.series import CURVE_RUNS

PALETTE = list(qualitative.Plotly) + list(qualitative.Dark24)
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "triangle-down", "star", "hexagon", "pentagon")
DASHES = {"direct": "solid", "predict": "dash", "numpy": "dot"}
HOVER = "%{text}<extra></extra>"
DIGITS = 5
#: the curves' values: 4 significant digits, what their hover shows (``.4f`` of a loss or an accuracy below 1)
CURVE_DIGITS = 4
#: no Plotly template (each would add 7 kB of JSON per chart): the few settings that matter, inline
LAYOUT = dict(template="none", height=460, margin=dict(l=70, r=20, t=50, b=60), plot_bgcolor="#fff",
              paper_bgcolor="#fff", hoverlabel=dict(align="left"), legend=dict(font=dict(size=11)),
              font=dict(family="system-ui, sans-serif", size=12), colorway=PALETTE)
AXIS = dict(gridcolor="#e6e6e6", zerolinecolor="#ccc", linecolor="#999", showline=True, automargin=True)


def _r(values: Sequence[Any], digits: int = DIGITS) -> list[Any]:
    """Values rounded to ``digits`` significant digits (None stays None)."""
    return [None if v is None else float(f"{v:.{digits}g}") for v in values]


def _finish(fig: go.Figure) -> go.Figure:
    fig.update_xaxes(**AXIS)
    fig.update_yaxes(**AXIS)
    return fig


def label(value: Any) -> str:
    """``value`` as text that Plotly shows literally: ``<``, ``>`` and ``&`` escaped."""
    return html.escape(str(value), quote=False)


def colours(cases: Sequence[str]) -> dict[str, str]:
    return {case: PALETTE[i % len(PALETTE)] for i, case in enumerate(cases)}


def _symbol(runs: Sequence[str], run: str) -> str:
    return SYMBOLS[runs.index(run) % len(SYMBOLS)] if run in runs else "circle"


def _seed(value: Any) -> Any:
    """A seed for ``customdata`` (shown by ``%{customdata}``): a whole number as it is, anything
    else a results.json holds there as escaped text (Plotly renders markup in hover text)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else label(value)


def _hover(*pairs: tuple[str, Any]) -> str:
    return "<br>".join(f"{name}: {label(value)}" for name, value in pairs)


def throughput(points: Sequence[Mapping[str, Any]], colour: Mapping[str, str], runs: Sequence[str]) -> go.Figure:
    fig = go.Figure()
    for p in points:
        fig.add_trace(go.Scatter(
            x=p["batch_sizes"], y=_r(p["rates"]), mode="lines+markers", name=label(f"{p['run']} · {p['case']} {p['path']}"),
            legendgroup=label(p["case"]), line=dict(color=colour.get(p["case"]), dash=DASHES.get(p["path"], "dashdot")),
            marker=dict(symbol=_symbol(runs, p["run"]), size=7),
            meta=_hover(("run", p["run"]), ("case", p["case"]), ("path", p["path"])),
            hovertemplate="%{meta}<br>batch: %{x}<br>samples/s: %{y:,.0f}<extra></extra>",
        ))
    fig.update_layout(title="Inference throughput against batch size (log-log)", **LAYOUT)
    fig.update_xaxes(type="log", title="batch size")
    fig.update_yaxes(type="log", title="samples/s (median round)")
    return _finish(fig)


#: the open division's chart (``series.race_times``)
RACE_TITLE = "Time to the target per seed, open division (seeds that reached it; box: their spread)"


def seed_times(points: Sequence[Mapping[str, Any]], colour: Mapping[str, str],
               title: str = "Training wall time per seed (box: spread of the seeds)", value: str = "wall s") -> go.Figure:
    """A box of every seed's seconds per run and case: training wall times, or (``race_times``)
    the open division's times to the target, with their own ``title`` and hover name ``value`` (a
    constant of this module, never text from a results.json: it goes into the hover template).
    The run and case go once per trace (``meta``), the seed per point (``customdata``)."""
    fig = go.Figure()
    shown: set[str] = set()
    for p in points:
        fig.add_trace(go.Box(
            x0=label(p["run"]), y=_r(p["walls"]), name=label(p["case"]), legendgroup=label(p["case"]),
            offsetgroup=label(p["case"]), showlegend=p["case"] not in shown, boxpoints="all", jitter=0.3, pointpos=0,
            marker=dict(color=colour.get(p["case"]), size=6), line=dict(color=colour.get(p["case"])), hoveron="points",
            meta=_hover(("run", p["run"]), ("case", p["case"])), customdata=[_seed(s) for s in p["seeds"]],
            hovertemplate=f"%{{meta}}<br>seed: %{{customdata}}<br>{value}: %{{y:.2f}}<extra></extra>",
        ))
        shown.add(p["case"])
    fig.update_layout(title=title, boxmode="group", **LAYOUT)
    fig.update_yaxes(title="seconds", rangemode="tozero")
    fig.update_xaxes(title="run")
    return _finish(fig)


def accuracies(points: Sequence[Mapping[str, Any]], colour: Mapping[str, str]) -> go.Figure:
    """Each seed's test accuracy per run and case, beside the gate's seed floor and mean threshold.
    One trace per case and one per threshold, over every run (a trace per run and case made the
    page grow by a trace's settings for every run committed)."""
    fig = go.Figure()
    by_case: dict[str, dict[str, list[Any]]] = {}
    gates: dict[str, dict[str, list[Any]]] = {}
    for p in points:
        where = label(f"{p['run']} · {p['case']}")
        found = by_case.setdefault(p["case"], {"x": [], "y": [], "text": []})
        found["x"] += [where] * len(p["accuracies"])
        found["y"] += _r([a * 100 for a in p["accuracies"]])
        found["text"] += [_hover(("run", p["run"]), ("case", p["case"]), ("seed", s), ("test accuracy", f"{a:.2%}"))
                          for s, a in zip(p["seeds"], p["accuracies"])]
        for key, name in (("seed_floor", "gate: seed floor"), ("mean_threshold", "gate: mean threshold")):
            if p.get(key) is None:
                continue
            gate = gates.setdefault(key, {"name": name, "x": [], "y": [], "text": []})
            gate["x"].append(where)
            gate["y"] += _r([p[key] * 100])
            gate["text"].append(_hover(("run", p["run"]), ("case", p["case"]), (name, f"{p[key]:.2%}")))
    for case, found in by_case.items():
        fig.add_trace(go.Scatter(
            x=found["x"], y=found["y"], mode="markers", name=label(case), legendgroup=label(case),
            marker=dict(color=colour.get(case), size=8), text=found["text"], hovertemplate=HOVER,
        ))
    for key, symbol in (("seed_floor", "line-ew-open"), ("mean_threshold", "line-ew")):
        gate = gates.get(key)
        if gate is None:
            continue
        fig.add_trace(go.Scatter(
            x=gate["x"], y=gate["y"], mode="markers", name=gate["name"], legendgroup=gate["name"],
            marker=dict(symbol=symbol, size=26, color="#b00" if key == "seed_floor" else "#555", line=dict(width=3)),
            text=gate["text"], hovertemplate=HOVER,
        ))
    fig.update_layout(title="Test accuracy per seed against the gate's thresholds", **LAYOUT)
    fig.update_layout(height=620)  # room for the long run · case labels below
    fig.update_yaxes(title="test accuracy (%)")
    order = list(dict.fromkeys(label(f"{p['run']} · {p['case']}") for p in points))  # run by run, as the points came
    fig.update_xaxes(title="run · case", tickangle=-30, categoryorder="array", categoryarray=order)
    return _finish(fig)


def curves(points: Sequence[Mapping[str, Any]], colour: Mapping[str, str], runs: Sequence[str], metric: str) -> go.Figure:
    """``metric`` is ``loss`` or ``accuracy``: training solid, validation dotted, per seed. The
    seeds of one run and case share a trace (each seed's line broken from the next by a gap, its
    seed in the hover), which keeps the page small as runs of many seeds accumulate."""
    fig = go.Figure()
    shown: set[str] = set()
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for p in points:
        grouped.setdefault((p["run"], p["case"]), []).append(p)
    for (run, case), seeds in grouped.items():
        for key, dash in ((metric, "solid"), (f"val_{metric}", "dot")):
            xs: list[Any] = []
            ys: list[Any] = []
            which: list[Any] = []
            for p in seeds:
                values = p["series"].get(key)
                if not values:
                    continue
                if xs:
                    xs.append(None), ys.append(None), which.append(None)
                xs += list(range(1, len(values) + 1))
                ys += _r(values, CURVE_DIGITS)
                which += [_seed(p["seed"])] * len(values)
            if not xs:
                continue
            name = label(f"{case} ({'validation' if key.startswith('val_') else 'training'})")
            fig.add_trace(go.Scatter(
                x=xs, y=ys, customdata=which, mode="lines+markers", name=name, legendgroup=name,
                showlegend=name not in shown, line=dict(color=colour.get(case), dash=dash, width=1.5),
                marker=dict(symbol=_symbol(runs, run), size=4), opacity=0.8, connectgaps=False,
                meta=_hover(("run", run), ("case", case), ("series", key)),
                hovertemplate="%{meta}<br>seed: %{customdata}<br>epoch: %{x}<br>value: %{y:.4f}<extra></extra>",
            ))
            shown.add(name)
    fig.update_layout(title=f"{metric.capitalize()} per epoch (every seed of the {CURVE_RUNS} newest full-data runs with curves, "
                            "and of the baseline if it is one; dotted: validation)", **LAYOUT)
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title=metric, type="log" if metric == "loss" else "linear")
    return _finish(fig)


def all_charts(chart_data: Mapping[str, Any], cases: Sequence[str], runs: Sequence[str]) -> list[tuple[str, go.Figure]]:
    """(id, figure) of every chart, in page order; a chart without data is left out."""
    colour = colours(cases)
    out = []
    if chart_data["throughput"]:
        out.append(("throughput", throughput(chart_data["throughput"], colour, runs)))
    if chart_data["seed_times"]:
        out.append(("training-time", seed_times(chart_data["seed_times"], colour)))
    if chart_data.get("race_times"):
        out.append(("race-time", seed_times(chart_data["race_times"], colour, RACE_TITLE, "s to target")))
    if chart_data["accuracies"]:
        out.append(("accuracy", accuracies(chart_data["accuracies"], colour)))
    if chart_data["curves"]:
        out.append(("loss", curves(chart_data["curves"], colour, runs, "loss")))
        out.append(("accuracy-curves", curves(chart_data["curves"], colour, runs, "accuracy")))
    return out
