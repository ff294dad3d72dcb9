"""``mnist-mlp dashboard``: one offline HTML page over every run and machine.

The page opens from the file system with no server and no network: its data sits inside it (a
``<script type="application/json">`` block), plotly.js sits beside it (``plotly-<version>.min.js``,
written once from the installed plotly package, never a CDN), and the page's own controls
(``dashboard.js``, ``dashboard.css``, package data) are inlined. A Content-Security-Policy forbids
any connection, so even a bug cannot make it fetch anything.

Everything read from a results.json is data: tables are escaped here (``html.escape``) or filled
with ``textContent`` by the page's script, chart labels are escaped for Plotly
(``dashboard_charts.label``), and the JSON block escapes ``<``, ``>`` and ``&`` so that no string
can close it. The numbers come from ``mnist_mlp.dashboard`` (data only); this module lays them out.
"""

from __future__ import annotations

import html
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from mnist_mlp import atomic, results
from mnist_mlp.dashboard import changes, collect, figures, scores, series

DEFAULT_FILE = "dashboard.html"
#: what a run folder holds that the page links to, besides its figures (*.png)
LINKED_FILES = ("report.md", "gate.md", results.RESULTS_FILE)
CSP = ("default-src 'none'; script-src 'unsafe-inline' file: 'self'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")


@dataclass
class Written:
    page: Path
    script: Path
    page_bytes: int
    script_bytes: int
    runs: int
    unreadable: dict[str, str]
    seconds: float


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` can end the block."""
    import plotly.io

    text = plotly.io.json.to_json_plotly(results.sanitize(obj))  # plotly's own encoder: tuples, numbers
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _asset(name: str) -> str:
    return resources.files("mnist_mlp.report").joinpath(name).read_text(encoding="utf-8")


def plotly_script(folder: Path) -> Path:
    """``plotly-<version>.min.js`` beside the page, from the installed plotly; written once per version."""
    import plotly
    from plotly.offline import get_plotlyjs

    path = folder / f"plotly-{plotly.__version__}.min.js"
    if not path.is_file():
        atomic.write_text(path, get_plotlyjs())
    return path


def _href(target: Path, page_dir: Path) -> str:
    return quote(Path(os.path.relpath(target.resolve(), page_dir.resolve())).as_posix())


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    """A table of escaped text (``raw``: cells are already HTML, built here from escaped parts)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _machines(collection: collect.Collection) -> str:
    headers = list(figures.SYSTEM_COLUMNS) + ["other machine fields", "status", "cases", "busy / unstable"]
    rows = []
    for entry in collection.runs:
        row = figures.machine_row(entry.run)
        other = "<br>".join(f"{_e(k)}: {_e(v)}" for k, v in figures.other_fields(entry.run))
        flags = figures.case_flags(entry.run)
        cells = [f'<span class="run-name">{_e(entry.name)}</span><br>{_e(row["host"])}']
        cells += [_e(row[c]) for c in figures.SYSTEM_COLUMNS[1:]]
        cells += [f'<details><summary>{len(figures.other_fields(entry.run))} fields</summary>{other}</details>',
                  _e(entry.run.get("status")) + (f" (schema {_e(entry.run.get('schema_version'))})"
                                                 if entry.run.get("schema_version") != results.SCHEMA_VERSION else "")
                  + _e(figures.gate_word(entry.run)),
                  "<br>".join(_e(s) for s in figures.case_statuses(entry.run)),
                  '<span class="flag">' + "<br>".join(_e(f) for f in flags) + "</span>" if flags else "—"]
        rows.append(cells)
    headers[0] = "run / host"
    out = [_table("runs-table", headers, rows, raw=True) if rows else
           "<p>No runs yet: <code>mnist-mlp bench</code> writes one into the reports folder.</p>"]
    if collection.unreadable:
        out.append("<h3>Unreadable runs</h3><p>Listed with the reason; the rest of the page is drawn without them.</p>")
        out.append(_table("unreadable-table", ["run folder", "reason"], list(collection.unreadable.items())))
    return "\n".join(out)


def _links(collection: collect.Collection, page_dir: Path) -> str:
    rows = []
    for entry in collection.runs:
        names = [n for n in LINKED_FILES if (entry.folder / n).is_file()]
        names += sorted(p.name for p in entry.folder.glob("*.png"))
        links = " · ".join(f'<a href="{_href(entry.folder / n, page_dir)}">{_e(n)}</a>' for n in names)
        rows.append([_e(entry.name), _e(entry.run.get("run_id")), links or "—"])
    return _table("links-table", ["run", "run id", "files"], rows, raw=True)


def _charts_intro(chart_specs: Sequence[tuple[str, Any]]) -> str:
    if not chart_specs:
        return "<p>No charts: no run here has a finished case with inference, training or race figures.</p>"
    return ("<p>Hover a point for its run, case and value; click a legend entry to hide it. The same case has the same "
            "colour on every chart; runs differ by marker.</p>")


def _charts(chart_specs: Sequence[tuple[str, Any]]) -> str:
    return "\n".join(f'<div class="chart" id="chart-{name}" data-chart="{index}"></div>' for index, (name, _) in enumerate(chart_specs))


def build(collection: collect.Collection, page_dir: Path, script_name: str, generated: str) -> str:
    """The whole page as one string."""
    from mnist_mlp.dashboard import verdict
    from mnist_mlp.report import dashboard_charts, dashboard_text, dashboard_verdict

    names = [entry.name for entry in collection.runs]
    board = scores.table(collection.runs)
    chart_data = {"throughput": series.throughput(collection.runs), "seed_times": series.seed_times(collection.runs),
                  "race_times": series.race_times(collection.runs),
                  "accuracies": series.accuracies(collection.runs),
                  "curves": series.curves(collection.runs, collection.baseline if collection.runs else None)}
    specs = dashboard_charts.all_charts(chart_data, board["cases"], names)
    found_steps = changes.steps(collection.runs)
    verdict_html, verdict_figures = dashboard_verdict.section(verdict.verdicts(collection.runs), len(specs))
    data = {
        "runs": [{"name": e.name, "run_id": e.run.get("run_id"), "created": e.created} for e in collection.runs],
        "baseline": collection.baseline if collection.runs else None,
        "board": board,
        "not_scored": scores.NOT_SCORED,
        "charts": [fig.to_plotly_json() for fig in [f for _, f in specs] + verdict_figures],
    }
    data_json = _json_for_script(data)
    options = "".join(f'<option value="{i}"{" selected" if i == collection.baseline else ""}>{_e(n)}</option>' for i, n in enumerate(names))
    case_options = "".join(f'<option value="{_e(c)}">{_e(c)}</option>' for c in board["cases"])
    summary = f"{len(collection.runs)} runs" + (f", {len(collection.unreadable)} unreadable" if collection.unreadable else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mnist-mlp dashboard</title>
<style>{_asset("dashboard.css")}</style>
</head><body>
<header><h1>mnist-mlp: every run and machine</h1>
<p class="meta">{_e(summary)} · generated {_e(generated)} by <code>mnist-mlp dashboard</code></p>
<nav><a href="#verdict">Verdict</a><a href="#charts">Charts</a><a href="#changes">Changes</a><a href="#scoreboard">Scoreboard</a><a href="#machines">Machines and runs</a><a href="#files">Files</a></nav>
</header>
<section id="verdict"><h2>Which way trains and serves fastest here, and is it accurate?</h2>
<p class="lead">Per machine: one bar per case, grouped by family (Keras on TensorFlow, JAX or PyTorch; native code and NumPy; serving runtimes), sorted best first in each group, the figure and its spread written on the bar (whiskers: the spread). Hover a bar for the run it comes from.</p>
{verdict_html}
</section>
<section id="charts"><h2>Charts</h2>
{_charts_intro(specs)}
{_charts(specs)}
</section>
<section id="changes"><h2>Changes</h2>
<p>Runs of the same machine in time order, with the differences <code>mnist-mlp compare</code> marks beyond noise (its own tests and rules), and where the machine's measured peak moved. <button id="copy-changes" type="button">Copy as text</button></p>
<pre id="changes-text">{_e(dashboard_text.changes_text(found_steps))}</pre>
</section>
<section id="scoreboard"><details class="fold"><summary><h2>Scoreboard: every figure of every run against a baseline</h2></summary>
<p>Each cell: the run's figure over the baseline's, for the same case (baseline: 1.00), and the figure itself. Score: the geometric mean over the cases shared with the baseline of each case's geometric mean speed ratio (above 1: faster than the baseline; accuracy is not in it), with the number of shared cases. Only runs of the baseline's workload are scored (the measured work as <code>mnist-mlp compare</code> defines it: epochs, training images, batch size and the rest of the training settings, model, dataset, schema; and the inference batch sizes, profile and precision): any other run shows its own figures, no ratio, and why it is not scored. Per unit of peak: times multiplied and rates divided by the case's own measured FP32 matmul peak (GFLOP/s).</p>
<div class="controls"><label>baseline <select id="baseline">{options}</select></label>
<label>case <select id="case-filter"><option value="">all cases</option>{case_options}</select></label>
<label><input type="radio" name="basis" value="0" checked> absolute</label>
<label><input type="radio" name="basis" value="1"> per unit of measured peak</label></div>
<div class="scroll"><table id="score-table"></table></div>
</details></section>
<section id="machines"><details class="fold"><summary><h2>Machines and runs</h2></summary>
<p>Oldest first. System columns first (as in MLPerf results tables), then every other machine field, the run's status, and the cases measured on a busy machine or with an unstable peak.</p>
<div class="scroll">{_machines(collection)}</div>
</details></section>
<section id="files"><h2>Files of each run</h2>
{_links(collection, page_dir)}
</section>
<script type="application/json" id="dashboard-data">{data_json}</script>
<script src="{_e(quote(script_name))}"></script>
<script>{_asset("dashboard.js")}</script>
</body></html>
"""


def write_dashboard(reports_dir: str | Path = "reports", out: str | Path | None = None,
                    extra: Sequence[str | Path] = (), baseline: str | Path | None = None) -> Written:
    """Collect the runs, write the page (default ``<reports>/dashboard.html``) and plotly.js beside it."""
    started = time.perf_counter()
    collection = collect.collect(reports_dir, extra, baseline)
    page = Path(out) if out is not None else Path(reports_dir) / DEFAULT_FILE
    if page.is_dir():  # --out names a folder: the page goes inside it
        page = page / DEFAULT_FILE
    folder = atomic.ensure_writable_dir(page.parent if str(page.parent) else Path("."))
    script = plotly_script(folder)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = build(collection, folder, script.name, generated)
    atomic.write_text(page, text)
    return Written(page, script, len(text.encode("utf-8")), script.stat().st_size, len(collection.runs),
                   collection.unreadable, time.perf_counter() - started)
