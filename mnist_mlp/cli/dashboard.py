"""``mnist-mlp dashboard``: argument parsing, and the refresh ``bench`` does at the end of a run.

The work is in ``mnist_mlp.report.dashboard`` (the page) and ``mnist_mlp.dashboard`` (its data);
plotly and scipy are imported inside the handler so that ``mnist-mlp --help`` stays quick.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from mnist_mlp.cli.output import emit
from mnist_mlp.errors import MnistMlpError

log = logging.getLogger(__name__)
DEFAULT_REPORTS = Path("reports")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _summary(written: Any) -> str:
    text = (f"wrote {written.page} ({_size(written.page_bytes)}; {written.script.name} beside it, "
            f"{_size(written.script_bytes)}): {written.runs} runs")
    if written.unreadable:
        text += f", {len(written.unreadable)} unreadable ({', '.join(written.unreadable)})"
    return text + f", in {written.seconds:.1f} s"


def cmd_dashboard(args: argparse.Namespace) -> int:
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise MnistMlpError("dashboard: the plotting library plotly is not installed (pip install plotly, or pip install -e .)") from None
    from mnist_mlp.report.dashboard import write_dashboard

    written = write_dashboard(args.reports, args.out, args.runs, args.baseline)
    emit(args, {"page": str(written.page), "script": str(written.script), "page_bytes": written.page_bytes,
                "script_bytes": written.script_bytes, "runs": written.runs, "unreadable": written.unreadable,
                "seconds": written.seconds}, _summary(written))
    return 0


def refresh(reports_dir: str | Path) -> str:
    """Rewrite ``<reports>/dashboard.html`` after a bench run; one line saying what happened.

    Never raises: the run's results are saved by then, and a page that cannot be drawn must not
    turn a finished run into a failed one. Without plotly it says so and goes on.
    """
    try:
        import plotly  # noqa: F401
    except ImportError:
        return "dashboard not refreshed: plotly is not installed (pip install plotly)"
    try:
        from mnist_mlp.report.dashboard import write_dashboard

        return "dashboard: " + _summary(write_dashboard(reports_dir))
    except MnistMlpError as exc:
        return f"dashboard not refreshed: {exc}"
    except Exception as exc:  # a bug in the page must not fail a finished benchmark run
        log.debug("dashboard refresh failed", exc_info=True)
        return f"dashboard not refreshed: {type(exc).__name__}: {exc}"


def add_commands(sub: Any) -> None:
    """Register ``dashboard`` on the main parser's subparsers."""
    dash = sub.add_parser("dashboard", help="one offline HTML page over every run and machine (the verdict per machine first, then charts, changes, scoreboard, tables)")
    dash.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR",
                      help="extra run folders (or folders of runs) beside those under --reports")
    dash.add_argument("--reports", type=Path, default=DEFAULT_REPORTS, help="the reports folder, searched at any depth (default: reports)")
    dash.add_argument("--out", type=Path, help="the page to write (default: <reports>/dashboard.html; plotly.js is written beside it)")
    dash.add_argument("--baseline", metavar="RUN",
                      help="the scoreboard's first baseline (a run folder, its name under --reports, or its run id; "
                      "default: the newest run under <reports>/reference/); the page lets the reader pick another")
    dash.add_argument("--json", action="store_true", help="print what was written as one JSON object")
    dash.set_defaults(handler=cmd_dashboard)
