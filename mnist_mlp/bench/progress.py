"""What the terminal shows while a run goes: the case running, its progress, then a summary.

On a terminal one line per case is redrawn in place (``\\r``) with the child's progress and the
elapsed time; in a log or CI (not a TTY) only a line when a case starts and one when it ends.
This is the CLI's view, so printing here is intended.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from mnist_mlp.bench.runner import CasePlan


class TerminalReporter:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._prefix = ""
        self._width = 0

    def machine_checked(self, state: dict[str, Any] | None) -> None:
        """Say at the start when other processes already use the CPU: timings would be spoiled."""
        if state and state.get("busy"):
            print(f"warning: the machine is already busy ({'; '.join(state['busy_reasons'])}); "
                  "timings taken now will be marked busy", file=self.stream, flush=True)

    def case_started(self, index: int, total: int, plan: CasePlan) -> None:
        self._prefix = f"[{index}/{total}] {plan.case_id}"
        if plan.skip_reason:
            return
        if self.tty:
            self._redraw(f"{self._prefix}: starting")
        else:
            print(f"{self._prefix}: running", file=self.stream, flush=True)

    def case_progress(self, plan: CasePlan, text: str, elapsed: float) -> None:
        if self.tty:
            self._redraw(f"{self._prefix}: {text} ({elapsed:.0f} s)")

    def case_finished(self, plan: CasePlan, record: dict[str, Any]) -> None:
        status = record["status"]
        detail = f" ({record['reason']})" if record.get("reason") else ""
        detail += "".join(f" [{flag}]" for flag in record.get("machine_flags") or [])
        took = f" in {record['duration_s']:.1f} s" if record.get("duration_s") else ""
        line = f"{self._prefix}: {status}{took}{detail}"
        if self.tty:
            self._redraw(line)
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
        else:
            print(line, file=self.stream, flush=True)

    def _redraw(self, text: str) -> None:
        padded = text.ljust(self._width)
        self._width = len(text)
        self.stream.write("\r" + padded)
        self.stream.flush()
