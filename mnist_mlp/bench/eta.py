"""Time-left estimates for a case and for the whole run: pure functions of what is known so far.

A case's training estimate comes from its own finished epochs: the mean of the epochs after the
first (the first one holds tracing and compilation), or the first alone while it is the only
one. What follows training (agreement, inference sweep, latency) is estimated from the profile
(``tail_from_profile``: the benchmark count times pytest-benchmark's time budget, plus the
latency rounds), or, once a case has finished, from what the finished cases took. Cases not
started yet are guesses by nature (another framework, another speed): ``RunEstimate`` says how
many of them its figure holds, so the terminal can say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import mean
from typing import Sequence

from mnist_mlp.bench.progress_file import ChildProgress

#: seconds a throughput benchmark takes beyond its time budget (warm-up call, calibration, JSON);
#: from quick-profile runs on a 2-core VM (noisy; only feeds an estimate)
INFERENCE_OVERHEAD_S = 0.3
#: seconds of one batch-1 call, for the latency rounds, and the per-path warm-up
LATENCY_CALL_S = 0.003
LATENCY_OVERHEAD_S = 0.3
#: agreement with the NumPy reference and the confusion matrix, after training
AGREEMENT_S = 1.0
#: a child's interpreter, pytest and framework start-up before its first epoch (unknown until measured)
STARTUP_GUESS_S = 8.0


@dataclass(frozen=True)
class Tail:
    """Estimated seconds of the phases after training."""

    agreement: float
    inference: float
    latency: float

    @property
    def total(self) -> float:
        return self.agreement + self.inference + self.latency


def tail_from_profile(
    batch_sizes: Sequence[int], max_time: float, latency_rounds: int, paths: int, trains: bool = True,
    latency_budget_s: float = 0.0,
) -> Tail:
    """The phases after training, from the profile: ``paths`` x ``batch_sizes`` benchmarks of at
    most ``max_time`` seconds each, and ``latency_rounds`` (plus 5 warm-ups) batch-1 calls per path, with at most
    ``latency_budget_s`` more of them (``metrics.latency_round_count``)."""
    inference = paths * len(batch_sizes) * (max_time + INFERENCE_OVERHEAD_S)
    latency = paths * (LATENCY_OVERHEAD_S + (latency_rounds + 5) * LATENCY_CALL_S + latency_budget_s)
    return Tail(AGREEMENT_S if trains else 0.0, inference, latency)


def epoch_estimate(epoch_seconds: Sequence[float]) -> float | None:
    """Seconds of an epoch still to run: the mean after the first (compiling) epoch, else the first."""
    if not epoch_seconds:
        return None
    steady = epoch_seconds[1:]
    return mean(steady) if steady else epoch_seconds[0]


def training_left(progress: ChildProgress, now: float) -> float | None:
    """Seconds of training left in the case (all seeds), or None before the first epoch ends.

    ``now`` is ``time.time()``: the running epoch began at the snapshot's ``time`` (the child
    writes between epochs), so the part of it already run is taken off.
    """
    total = progress.epochs * progress.seeds
    done = len(progress.epoch_seconds)
    per_epoch = epoch_estimate(progress.epoch_seconds)
    if not total or per_epoch is None:
        return None
    remaining = max(total - done, 0)
    if remaining == 0:
        return 0.0
    into = max(now - progress.time, 0.0) if progress.time is not None else 0.0
    return max(remaining * per_epoch - min(into, per_epoch), 0.0)


def case_left(progress: ChildProgress | None, now: float, tail: Tail) -> float | None:
    """Seconds left in the case, or None while nothing says it yet (start-up, the first epoch)."""
    if progress is None or progress.phase is None:
        return None
    phase = progress.phase
    if phase == "training":
        left = training_left(progress, now)
        return None if left is None else left + tail.total
    if phase == "agreement":
        return tail.total
    if phase == "inference sweep":
        share = (progress.steps - progress.step + 1) / progress.steps if progress.steps else 1.0
        return tail.inference * share + tail.latency
    if phase == "latency":
        share = (progress.steps - progress.step + 1) / progress.steps if progress.steps else 1.0
        return tail.latency * share
    if phase == "finish":
        return 0.0
    return None  # imports, data: before the first epoch nothing is known


@dataclass(frozen=True)
class RunEstimate:
    """Seconds left in the run; ``guessed`` of them are cases that have not started yet."""

    seconds: float
    guessed_cases: int
    basis: str  # what the guess for cases not started rests on

    def describe(self) -> str:
        text = f"about {format_seconds(self.seconds)} left"
        if self.guessed_cases:
            text += f" (a guess for {self.guessed_cases} case{'s' if self.guessed_cases > 1 else ''} not started, {self.basis})"
        return text


def run_left(
    current_left: float, current_total: float, pending_trains: Sequence[bool],
    finished: Sequence[tuple[bool, float]], tail_only: Tail,
) -> RunEstimate:
    """The run's time left: the running case's, plus a guess for each case not started yet.

    ``pending_trains``: for each case still to run, whether it trains (a backend) or only serves
    (NumPy). ``finished``: (trains, seconds) of the cases done. A training case is guessed as the
    mean of the finished training cases, else as the running case's estimated total; a serving
    case as the finished serving cases, else the profile's inference and latency estimate.
    """
    trained = [seconds for trains, seconds in finished if trains]
    served = [seconds for trains, seconds in finished if not trains]
    train_guess = mean(trained) if trained else current_total
    serve_guess = mean(served) if served else tail_only.total + STARTUP_GUESS_S / 4
    guess = sum(train_guess if trains else serve_guess for trains in pending_trains)
    basis = "from the finished cases" if trained else "from the running case"
    return RunEstimate(current_left + guess, len(pending_trains), basis)


def format_seconds(seconds: float) -> str:
    """'45 s', '3 min 05 s', '1 h 02 min': rounded, for a person reading a progress line."""
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
