"""The workloads a user picks with ``--profile``, and how options override them.

``quick`` is a smoke run that must finish in about a minute for every backend and implementation
on a laptop: two epochs on the first 5,000 training images (``train_samples``), so the second
epoch gives a steady time per step (a first epoch is mostly compilation and warm-up), a short
inference sweep (batch 1 and 10000) timed in five passes (``passes``), and one shared process per framework (``shared_process``, ``bench.group``); it
checks that every backend trains, serves, agrees with NumPy and that every report is written, and
its per-step figure can show a slower step, but it does not time a full epoch. ``full`` is the seed workload (25 epochs on all 60,000 images, batch 32,
validation split 0.2). Everything a profile fixes is written into the results, so a number is
never separated from the settings behind it. ``open`` is the open division (``mnist_mlp.race``):
the race of every implementation to the seed's 97.9% with its recipe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from mnist_mlp.errors import UsageError

#: the batch sizes of the inference sweep in the full profile
FULL_BATCH_SIZES = (1, 32, 256, 1024, 10000)
#: the test set holds this many images: no inference batch can be larger
MAX_BATCH_SIZE = 10000
#: the training set holds this many images: ``--train-samples`` at most
MAX_TRAIN_SAMPLES = 60000


@dataclass(frozen=True)
class Profile:
    """Workload and measurement budget of one run (per case)."""

    name: str
    epochs: int
    seeds: int
    batch_sizes: tuple[int, ...]
    #: pytest-benchmark --benchmark-max-time per inference benchmark (seconds)
    max_time: float
    #: pytest-benchmark --benchmark-min-rounds
    min_rounds: int
    #: pytest-benchmark --benchmark-min-time: a round lasts at least this long (bounds the rounds kept)
    min_time: float
    #: pedantic rounds (one call each) behind the batch-1 latency percentiles: at least this many
    latency_rounds: int
    #: a case's wall-clock limit: ``timeout_base + timeout_per_seed_epoch x seeds x epochs`` seconds
    #: (a 3-seed, 25-epoch PyTorch case took 994 s on a 2-core VM), unless ``timeout`` is given
    timeout_base: float
    timeout_per_seed_epoch: float
    target_accuracy: float = 0.975
    #: an explicit limit per case (``--timeout``), replacing the rule above
    timeout: float | None = None
    #: more latency rounds, up to this many, while they fit in ``latency_budget_s`` (``metrics.latency_round_count``)
    latency_max_rounds: int | None = None
    latency_budget_s: float = 0.0
    #: each peak probe (before and after a case): at most this many timed matmuls within this many seconds
    peak_repeats: int = 5
    peak_budget_s: float = 1.5

    def case_timeout(self, seeds: int | None = None, epochs: int | None = None) -> float:
        """Seconds one case may take: ``--timeout`` if given, else the base plus a share per seed-epoch."""
        if self.timeout is not None:
            return float(self.timeout)
        return self.timeout_base + self.timeout_per_seed_epoch * (seeds or self.seeds) * (epochs or self.epochs)
    #: train on the first N training images only (``TrainConfig.train_samples``); None: all
    train_samples: int | None = None
    #: the cases of one backend and device share one process (``bench.group``), imports paid once:
    #: a smoke run's economy; the full profile keeps a fresh process per case
    shared_process: bool = False
    #: the 5-step check of each training case against the NumPy training reference (``verify
    #: --training``): a few seconds a case, left out of the smoke run (its forward check stays)
    training_check: bool = True
    #: the benchmark suites each case's child runs (files under ``benchmarks/``), in order
    suites: tuple[str, ...] = ("test_training.py", "test_inference.py")
    #: the open division (``mnist_mlp.race``): each case races a recipe to ``target_accuracy`` on the
    #: test set; ``seed_recipe_seeds`` seeds of the seed's own recipe run beside it, 25 epochs each
    race: bool = False
    seed_recipe_seeds: int = 0
    #: each serving and inference case also times a fresh process to its first correct prediction
    #: (``serving.cold``): seconds per framework case (its imports), so the quick profile leaves it out
    cold_start: bool = True
    #: the inference sweep and the batch-1 latency run in this many passes, one after the other over
    #: every path and batch size, each with 1/passes of the time budget (``max_time``,
    #: ``min_rounds``, the latency's rounds and budget). Why: on a shared 2-core VM a batch-1 call
    #: takes about 17 us at some moments and 24 to 35 us in slow spells of under 0.3 s to over 1 s
    #: (``reports/calibration/window-noise/``), so a figure timed in one contiguous window lands in
    #: one of the two; timed in passes spread over the case, it samples several windows, and its
    #: fastest pass (what ``ab`` judges, ``compare.paired``) is the machine's undisturbed speed
    passes: int = 1

    @property
    def pass_max_time(self) -> float:
        """pytest-benchmark's ``--benchmark-max-time`` for each pass of a throughput benchmark."""
        return self.max_time / self.passes

    @property
    def pass_min_rounds(self) -> int:
        """pytest-benchmark's ``--benchmark-min-rounds`` for each pass (at least one)."""
        return max(1, -(-self.min_rounds // self.passes))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["batch_sizes"] = list(self.batch_sizes)
        return data


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        # inference at the two ends only: batch 1, bound by latency, and 10000, by the matmul peak
        name="quick", epochs=2, seeds=1, batch_sizes=(1, 10000),
        max_time=0.1, min_rounds=3, min_time=0.002, latency_rounds=10, timeout_base=240.0, timeout_per_seed_epoch=60.0,
        latency_max_rounds=100, latency_budget_s=0.3, train_samples=5_000, peak_repeats=3, peak_budget_s=0.4, shared_process=True, training_check=False,
        cold_start=False, passes=5,
    ),
    "full": Profile(
        name="full", epochs=25, seeds=1, batch_sizes=FULL_BATCH_SIZES,
        max_time=0.5, min_rounds=5, min_time=0.005, latency_rounds=100, timeout_base=300.0, timeout_per_seed_epoch=30.0,
    ),
    # the open division: every implementation races its recipe (``race/recipes.json``) to the seed's
    # 97.9% on the test set, 10 seeds a case, a process a case; the seed's own recipe runs once beside
    # it for the ratio; no inference (serving has its own cases). ``epochs`` is the seed recipe's budget.
    "open": Profile(
        name="open", epochs=25, seeds=10, batch_sizes=(1,),
        max_time=0.1, min_rounds=1, min_time=0.0, latency_rounds=1, timeout_base=600.0, timeout_per_seed_epoch=15.0,
        target_accuracy=0.979, training_check=False, suites=("test_open.py",), race=True, seed_recipe_seeds=1,
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise UsageError(f"--profile: unknown profile {name!r} (choose from {', '.join(PROFILES)})")
    return PROFILES[name]


def check_batch_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Sorted unique batch sizes, each between 1 and the test-set size."""
    if not sizes:
        raise UsageError("--batch-sizes: give at least one batch size")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
            raise UsageError(f"--batch-sizes: {size!r} is outside 1 to {MAX_BATCH_SIZE} (the test set)")
    return tuple(sorted(set(sizes)))


def with_overrides(profile: Profile, **changes: Any) -> Profile:
    """The profile with the options the user gave (None means 'keep the profile's value')."""
    given = {key: value for key, value in changes.items() if value is not None}
    if "batch_sizes" in given:
        given["batch_sizes"] = check_batch_sizes(tuple(given["batch_sizes"]))
    if "target_accuracy" in given and not 0.0 < given["target_accuracy"] <= 1.0:
        raise UsageError(f"--target-accuracy: must be in (0, 1], got {given['target_accuracy']}")
    if "timeout" in given and given["timeout"] <= 0:
        raise UsageError(f"--timeout: must be positive, got {given['timeout']}")
    return replace(profile, **given)
