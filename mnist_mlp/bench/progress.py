"""What the terminal shows while a run goes: the plan, each case's progress with time left, the run's.

At the start the plan: every case, run or skipped (and why), the seeds and epochs. On a terminal
tqdm draws two bars: the running case (epochs, then benchmarks, with its seed, phase and time
left) and the run (cases done, and the time left once the running case's first epoch is done).
In a log or CI (not a TTY) plain lines instead: one when a case starts or ends, one per phase,
and one every few epochs (``LogThrottle``: 5 epochs or 30 s), plus the run's estimate once per
case. The estimates are ``mnist_mlp.bench.eta``'s; the text is built by pure functions here
(``plan_text``, ``status_text``) so tests check it with a fake stream.
This is the CLI's view, so printing here is intended.
"""

from __future__ import annotations

import os
import sys
import time
from statistics import mean
from typing import Any, Callable, Sequence, TextIO

from mnist_mlp.bench import eta, eta_history
from mnist_mlp import backends
from mnist_mlp.bench.progress_file import ChildProgress
from mnist_mlp.bench.plan import BenchOptions, CasePlan

#: in a log: a line at least every this many epochs, or seconds
EVERY_EPOCHS = 5
EVERY_S = 30.0


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def plan_text(plans: Sequence[CasePlan], options: BenchOptions) -> str:
    """The run's plan: workload, then one line per case (run, or skipped with its reason)."""
    profile, train = options.profile, options.train
    seeds = options.seeds
    runnable = [plan for plan in plans if not plan.skip_reason and not plan.kept]
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    lines = [
        f"plan: {options.profile_label} profile, {len(runnable)} of {_plural(len(plans), 'case')} to run; "
        f"{_plural(train.epochs, 'epoch')} x {_plural(len(seeds), 'seed')} ({seed_text}), batch {train.batch_size}; "
        f"inference batch sizes {', '.join(str(size) for size in profile.batch_sizes)}; "
        f"timeout {profile.case_timeout():g} s per case"
    ]
    if train.train_samples:
        lines.append(f"  training on the first {train.train_samples:,} training images only (a smoke run, not the seed workload)")
    width = max((len(plan.case_id) for plan in plans), default=0)
    for plan in plans:
        if plan.kept:
            what = "kept: finished in the run being resumed"
        elif plan.skip_reason:
            what = f"skip: {plan.skip_reason}"
        elif not plan.trains:
            what = "run: inference only, on the weights of the first case that trains"
        else:
            what = "run"
        lines.append(f"  {plan.case_id.ljust(width)}  {what}")
    return "\n".join(lines)


def status_text(progress: ChildProgress | None, left: float | None) -> str:
    """'training seed 0, epoch 3/25, about 40 s left' (the time left once something says it)."""
    text = progress.describe() if progress is not None else "starting"
    if left is not None:
        text += f", about {eta.format_seconds(left)} left"
    return text


class LogThrottle:
    """When a log gets a progress line: a new phase, ``every_epochs`` more epochs, or ``every_s``."""

    def __init__(self, every_epochs: int = EVERY_EPOCHS, every_s: float = EVERY_S) -> None:
        self.every_epochs = every_epochs
        self.every_s = every_s
        self._phase: str | None = None
        self._epochs = 0
        self._time: float | None = None

    def due(self, phase: str | None, epochs_done: int, now: float) -> bool:
        due = (
            self._time is None or phase != self._phase
            or (phase == "training" and epochs_done - self._epochs >= self.every_epochs)
            or now - self._time >= self.every_s
        )
        if due:
            self._phase, self._epochs, self._time = phase, epochs_done, now
        return due


def _draws_bars(stream: TextIO) -> bool:
    """A terminal that bars can be drawn on: a TTY with a width (a pseudo-terminal of 0 columns,
    as some CI runners and ``script`` give, would show nothing: it gets the log's lines)."""
    if not bool(getattr(stream, "isatty", lambda: False)()):
        return False
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):
        return True  # a TTY without a file descriptor to ask: trust isatty


class TerminalReporter:
    """The runner's ``Reporter`` for the terminal (tqdm bars) or a log (plain lines)."""

    def __init__(
        self, stream: TextIO | None = None, *, tty: bool | None = None, clock: Callable[[], float] = time.time,
        every_epochs: int = EVERY_EPOCHS, every_s: float = EVERY_S,
    ) -> None:
        self.stream = stream or sys.stdout
        self.tty = _draws_bars(self.stream) if tty is None else tty
        self.clock = clock
        self.every_epochs, self.every_s = every_epochs, every_s
        self._plans: list[CasePlan] = []
        self._epochs = 0
        self._tails: dict[bool, eta.Tail] = {}
        self._measured_tails: dict[bool, list[eta.Tail]] = {True: [], False: []}
        self._finished: list[tuple[bool, float]] = []
        #: (case id, seconds) of the finished cases, and what earlier runs of the same cases took
        self._finished_ids: list[tuple[str, float]] = []
        self._history = eta_history.History()
        self._case_bar: Any = None
        self._run_bar: Any = None
        #: ``time.perf_counter()`` when the plan was made and the cases began (the CLI's timing)
        self.cases_started_at: float | None = None
        self._reset_case(None, "")

    # ------------------------------------------------------------------ Reporter protocol

    def run_started(self, plans: Sequence[CasePlan], options: BenchOptions) -> None:
        self.cases_started_at = time.perf_counter()
        self._plans = list(plans)
        self._epochs = options.train.epochs * len(options.seeds)
        profile = options.profile
        for trains in (True, False):
            paths = next((backends.get(p.backend).inference_paths for p in plans if p.trains == trains), ())
            self._tails[trains] = eta.tail_from_profile(
                profile.batch_sizes, profile.max_time, profile.latency_rounds, len(paths), trains,
                profile.latency_budget_s)
        self._print(plan_text(plans, options))
        self._history = eta_history.load(options.out, eta_history.workload_key(
            profile.name, options.train.epochs, len(options.seeds), options.train.train_samples))
        ahead = [plan for plan in plans if not plan.skip_reason and not plan.kept]
        if ahead and all(self._history.guess(plan.case_id) for plan in ahead):
            guess = self._with_history(eta.RunEstimate(0.0, 0, ""), ahead)
            self._print(f"run: {guess.describe()}")
        if self.tty:
            from tqdm import tqdm

            runnable = sum(1 for plan in plans if not plan.skip_reason and not plan.kept)
            self._run_bar = tqdm(
                total=runnable, desc="run", unit="case", file=self.stream, position=1, leave=False,
                dynamic_ncols=True, bar_format="{desc}: {n_fmt}/{total_fmt} cases done [{elapsed}{postfix}]",
            )

    def machine_checked(self, state: dict[str, Any] | None) -> None:
        """Say at the start when other processes already use the CPU: timings would be spoiled."""
        if state and state.get("busy"):
            self._print(f"warning: the machine is already busy ({'; '.join(state['busy_reasons'])}); "
                        "timings taken now will be marked busy")

    def case_started(self, index: int, total: int, plan: CasePlan) -> None:
        self._reset_case(plan, f"[{index}/{total}] {plan.case_id}")
        if plan.skip_reason:
            return
        self._started = self.clock()
        if self.tty:
            from tqdm import tqdm

            self._case_bar = tqdm(
                total=self._epochs if plan.trains else None, desc=self._prefix, file=self.stream,
                position=0, leave=False, dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
            )
        else:
            self._print(f"{self._prefix}: running")

    def case_progress(self, plan: CasePlan, progress: ChildProgress | None, elapsed: float) -> None:
        now = self.clock()
        left = eta.case_left(progress, now, self._tail(plan))
        text = status_text(progress, left)
        epochs_done = len(progress.epoch_seconds) if progress is not None else 0
        run = None
        if epochs_done or (not plan.trains and left is not None):
            run = self._run_estimate(plan, elapsed, left)
        if self.tty:
            self._draw(progress, text, run)
            return
        if progress is None or progress.phase == "finish":  # nothing to say yet, or nothing left
            return
        if self._throttle.due(progress.phase, epochs_done, now):
            self._print(f"{self._prefix}: {text}")
        if run is not None and not self._run_told:
            self._run_told = True
            self._print(f"run: {run.describe()}")

    def case_finished(self, plan: CasePlan, record: dict[str, Any]) -> None:
        status = record["status"]
        detail = f" ({record['reason']})" if record.get("reason") else ""
        detail += "".join(f" [{flag}]" for flag in record.get("machine_flags") or [])
        took = f" in {record['duration_s']:.1f} s" if record.get("duration_s") else ""
        if not plan.skip_reason and record.get("duration_s"):
            trains = plan.trains
            self._finished.append((trains, float(record["duration_s"])))
            self._finished_ids.append((plan.case_id, float(record["duration_s"])))
            phases = record.get("phase_seconds") or {}
            if status == "ok" and "inference sweep" in phases:
                self._measured_tails[trains].append(eta.Tail(
                    phases.get("agreement", 0.0), phases.get("inference sweep", 0.0), phases.get("latency", 0.0)))
        line = f"{self._prefix}: {status}{took}{detail}"
        if self._case_bar is not None:
            self._case_bar.close()
            self._case_bar = None
        if self._run_bar is not None and not plan.skip_reason:
            self._run_bar.update(1)
            pending = self._plans_after(plan)
            if pending and self._finished:  # what is left is all guesses now, from the finished cases
                self._run_bar.set_postfix_str(self._guess(0.0, 0.0, pending).describe(), refresh=False)
            elif not pending:
                self._run_bar.set_postfix_str("", refresh=False)
        self._print(line)
        self._reset_case(None, "")

    def close(self) -> None:
        """Remove the bars (the CLI calls this when the run ends, however it ends)."""
        for bar in (self._case_bar, self._run_bar):
            if bar is not None:
                bar.close()
        self._case_bar = self._run_bar = None

    # ------------------------------------------------------------------ helpers

    def _reset_case(self, plan: CasePlan | None, prefix: str) -> None:
        self._plan, self._prefix = plan, prefix
        self._started = self.clock()
        self._throttle = LogThrottle(self.every_epochs, self.every_s)
        self._run_told = False
        self._phase_drawn: str | None = None

    def _tail(self, plan: CasePlan) -> eta.Tail:
        """After-training estimate: the finished cases' measured phases, else the profile's."""
        trains = plan.trains
        measured = self._measured_tails.get(trains) or []
        if measured:
            return eta.Tail(*(mean(getattr(t, name) for t in measured) for name in ("agreement", "inference", "latency")))
        return self._tails.get(trains) or eta.Tail(0.0, 0.0, 0.0)

    def _run_estimate(self, plan: CasePlan, elapsed: float, left: float | None) -> eta.RunEstimate | None:
        if left is None:
            return None
        return self._guess(left, elapsed + left, self._plans_after(plan))

    def _guess(self, left: float, total: float, pending: list[CasePlan]) -> eta.RunEstimate:
        """``eta.run_left`` for the cases no earlier run has, earlier runs' durations for the others."""
        unknown = [p.trains for p in pending if self._history.guess(p.case_id) is None]
        base = eta.run_left(left, total, unknown, self._finished, self._tails.get(False) or eta.Tail(0, 0, 0))
        return self._with_history(base, [p for p in pending if self._history.guess(p.case_id) is not None])

    def _with_history(self, base: eta.RunEstimate, known: list[CasePlan]) -> eta.RunEstimate:
        """``base`` plus the ``known`` cases' earlier durations, scaled by this run's finished cases."""
        if not known:
            return base
        scale = self._history.scale(self._finished_ids)
        seconds = scale * sum(self._history.guess(p.case_id) or 0.0 for p in known)
        runs = ", ".join(self._history.runs_for([p.case_id for p in known]))
        basis = f"{len(known)} from earlier runs ({runs})" + (f" x{scale:.2f}, as this run's finished cases compare" if self._finished_ids else "")
        if base.guessed_cases:
            basis += f"; {base.guessed_cases} {base.basis}"
        return eta.RunEstimate(base.seconds + seconds, base.guessed_cases + len(known), basis)

    def _plans_after(self, plan: CasePlan) -> list[CasePlan]:
        """The cases to run after ``plan``."""
        ids = [p.case_id for p in self._plans]
        after = self._plans[ids.index(plan.case_id) + 1:] if plan.case_id in ids else []
        return [p for p in after if not p.skip_reason and not p.kept]

    def _draw(self, progress: ChildProgress | None, text: str, run: eta.RunEstimate | None) -> None:
        bar = self._case_bar
        if bar is not None:
            phase = progress.phase if progress is not None else None
            if phase in ("inference sweep", "latency") and phase != self._phase_drawn:
                bar.total = progress.steps or None  # now counting benchmarks (the clock keeps the case's time)
            self._phase_drawn = phase
            if phase == "training":
                bar.n = len(progress.epoch_seconds)
            elif phase in ("inference sweep", "latency"):
                bar.n = max(progress.step - 1, 0)
            bar.set_postfix_str(text, refresh=False)
            bar.refresh()
        if self._run_bar is not None and run is not None:
            self._run_bar.set_postfix_str(run.describe(), refresh=False)
            self._run_bar.refresh()

    def _print(self, text: str) -> None:
        if self.tty and (self._case_bar is not None or self._run_bar is not None):
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)
