"""The open division's rules (MLPerf's open division, adapted) and its score, as data.

The rules are printed with every result (``RULES``, written into results.json and the report).
The score of a case is MLPerf's olympic mean: over N seeds, drop the fastest and the slowest and
average the rest. A seed that misses the target within its recipe's epoch budget counts as the
slowest (so it is the one dropped); two or more misses leave the case without a score, said as
such, never a mean over the seeds that happened to make it.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any, Sequence

#: the version of the rules below; results carry it, so a change of rules is visible (2: the first
#: rule names the steps per compiled call among the recipe's, which version 1's list left out)
RULES_VERSION = 2
#: the seed's claim: "~97.9% on the test set"
DEFAULT_TARGET = 0.979
#: seeds per case in the open profile (MLPerf's image benchmarks use 5 to 10 runs)
DEFAULT_SEEDS = 10
#: the recipe search draws its seeds from here up; the timed runs use seeds below it
SEARCH_SEED_BASE = 1000

RULES = (
    "The network is the seed's exactly: 784-128-32-10, ReLU, softmax, 104,938 parameters. Everything "
    "else is the recipe's: batch size, optimizer settings, learning-rate schedule, epochs, and how many "
    "training steps one compiled call runs (Keras' steps_per_execution; the steps themselves do not change).",
    "Training uses the 60,000 training images only. The test set is evaluated after each epoch, inside "
    "the clock; the run stops at the first evaluation at or above the target, and the accuracy reported is "
    "that evaluation's.",
    "The clock starts before the data files are read and stops when that evaluation returns; it is never "
    "paused. Its parts (data, set-up, first epoch, later epochs, evaluation, other) are recorded and sum to it.",
    "A recipe is fixed before the timed runs, chosen by a committed search on seeds the timed runs never "
    f"use (from {SEARCH_SEED_BASE} up), and written into every result with the search that chose it.",
    "Each case runs N seeds; its score is the mean after dropping the fastest and the slowest (MLPerf's "
    "olympic mean). One seed that misses counts as the slowest; two or more misses leave the case without a score.",
)


@dataclass(frozen=True)
class Score:
    """A case's score: ``seconds`` (None when it has none, ``why`` says so), the kept seeds' spread."""

    seconds: float | None
    reached: int
    seeds: int
    low: float | None = None
    high: float | None = None
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def olympic_score(times: Sequence[float | None]) -> Score:
    """MLPerf's olympic mean of the seeds' times to target (None: the seed missed)."""
    seeds = len(times)
    reached = [float(t) for t in times if t is not None]
    misses = seeds - len(reached)
    if misses >= 2:
        return Score(None, len(reached), seeds, why=f"{misses} of {seeds} seeds missed the target (two or more: no score)")
    if seeds < 3:
        return Score(None, len(reached), seeds, why=f"{seeds} seed(s): the olympic mean needs at least 3")
    ordered = sorted(reached)
    kept = ordered[1:] if misses else ordered[1:-1]  # a miss is the slowest, and is the one dropped
    return Score(statistics.fmean(kept), len(reached), seeds, low=min(kept), high=max(kept),
                 why="one seed missed and counts as the slowest" if misses else "")


def rules_record() -> dict[str, Any]:
    """What every result carries: the rules' version and text."""
    return {"version": RULES_VERSION, "text": list(RULES)}
