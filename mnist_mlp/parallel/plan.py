"""Data-parallel training: what is the same for every framework.

How N devices are simulated and which engine spreads the work differ per framework and live in
the Backend classes (``Backend.data_parallel_prepare`` and ``Backend.data_parallel_engine``);
this module holds the shared rules: the batch arithmetic of strong and weak scaling, the
learning-rate rule, how a last partial batch is handled, and the equivalence measurement.

The last partial batch is **dropped**: JAX's ``DataParallel`` refuses a batch that does not
divide by N (``IndivisibleError``), and padding would change the gradient. So a data-parallel
epoch sees ``floor(n / global_batch) * global_batch`` samples, and the one-device reference it is
compared with is trimmed by the same rule, so both see exactly the same batches. On the full
MNIST split (48,000 training, 12,000 validation images) no training image is dropped at global
batches 32, 64 or 128; of the validation images, none at 32, 32 at 64 and 96 at 128. Every run
records how many it dropped (``dropped_train_samples``, ``dropped_validation_samples``).

No framework is imported here at module level.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from mnist_mlp.errors import UsageError

SCALINGS = ("strong", "weak")
LR_RULES = ("none", "linear", "sqrt")
#: the seed's batch: strong scaling splits it, weak scaling gives it to every device
BASE_BATCH = 32
#: samples of the one-epoch equivalence check (the first of the training split, unshuffled)
EQUIVALENCE_SAMPLES = 4096
#: what "the same model" means: float32 round-off (the prototype saw at most 6.6e-7)
EQUIVALENCE_TOLERANCE = 1e-5
#: printed beside every figure measured on simulated devices
SIMULATED_NOTE = "simulated devices: correctness, not speed"
#: why TensorFlow's multi-worker engine is not offered
MULTI_WORKER_SKIP_REASON = (
    "tf.distribute.MultiWorkerMirroredStrategy fails under Keras 3 (keras-team/keras issue 20585, open); "
    "TensorFlow runs data-parallel on one host only (MirroredStrategy)"
)


@dataclass(frozen=True)
class ParallelPlan:
    """N devices, the scaling mode and the learning-rate rule, and the batch sizes they give.

    ``processes`` > 1 spreads the devices over several processes (JAX only: one per host).
    """

    devices: int
    scaling: str = "strong"
    lr_rule: str = "none"
    base_batch: int = BASE_BATCH
    base_learning_rate: float = 1e-3
    processes: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.devices, bool) or not isinstance(self.devices, int) or self.devices < 1:
            raise UsageError(f"--data-parallel: must be a whole number of at least 1, got {self.devices!r}")
        if self.scaling not in SCALINGS:
            raise UsageError(f"--scaling: must be one of {', '.join(SCALINGS)}, got {self.scaling!r}")
        if self.lr_rule not in LR_RULES:
            raise UsageError(f"--lr-rule: must be one of {', '.join(LR_RULES)}, got {self.lr_rule!r}")
        if self.scaling == "strong" and self.base_batch % self.devices:
            raise UsageError(
                f"--data-parallel: strong scaling splits the global batch {self.base_batch} over the devices, "
                f"and {self.base_batch} does not divide by {self.devices} (use --scaling weak, or N in "
                f"{', '.join(str(n) for n in range(1, self.base_batch + 1) if self.base_batch % n == 0)})"
            )
        if self.scaling == "strong" and self.lr_rule != "none":
            raise UsageError("--lr-rule: only weak scaling changes the global batch; strong scaling keeps the learning rate")
        if self.processes < 1 or self.devices % self.processes:
            raise UsageError(f"--processes: {self.devices} devices do not spread evenly over {self.processes} processes")

    @property
    def global_batch(self) -> int:
        return self.base_batch if self.scaling == "strong" else self.base_batch * self.devices

    @property
    def per_device_batch(self) -> int:
        return self.global_batch // self.devices

    @property
    def learning_rate(self) -> float:
        factor = {"none": 1.0, "linear": float(self.devices), "sqrt": math.sqrt(self.devices)}[self.lr_rule]
        return self.base_learning_rate * factor

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(global_batch=self.global_batch, per_device_batch=self.per_device_batch,
                    learning_rate=self.learning_rate)
        return data


def trim_to_batches(x: np.ndarray, y: np.ndarray, global_batch: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The first ``floor(n / global_batch) * global_batch`` samples, and how many were dropped."""
    keep = (len(x) // global_batch) * global_batch
    if keep == 0:
        raise UsageError(f"--data-parallel: {len(x)} samples make no full global batch of {global_batch}")
    return x[:keep], y[:keep], len(x) - keep


def shard_rows(batch_start: int, global_batch: int, rank: int, world: int) -> slice:
    """The rows of one global batch that device ``rank`` of ``world`` computes (contiguous shares)."""
    share = global_batch // world
    start = batch_start + rank * share
    return slice(start, start + share)


@dataclass
class FitOutcome:
    """What an engine hands back: the trained weights, Keras-style history and its clocks.

    ``startup_seconds`` is the engine's own start (processes, process groups, strategy), kept
    outside ``train_seconds``. ``train_seconds`` is the same span on every engine: the training
    steps of every epoch only (``epoch_train_seconds`` summed), validation outside it; the inputs
    are prepared (scaled, split, trimmed) before any clock starts (``parallel.train``).
    ``epoch_seconds`` are whole epochs, validation included.
    """

    weights: list[np.ndarray]
    history: dict[str, list[float]]
    train_seconds: float
    startup_seconds: float
    epoch_seconds: list[float]
    epoch_train_seconds: list[float] = field(default_factory=list)


def keras_fit(model: Any, x: np.ndarray, y: np.ndarray, *, global_batch: int, epochs: int, shuffle: bool,
              validation_data: tuple[np.ndarray, np.ndarray] | None, startup_seconds: float,
              weights_of: Any = None, sync: Any = None) -> FitOutcome:
    """Keras ``fit`` at the global batch, timed: what the JAX and TensorFlow engines (and the
    one-device reference) run once their distribution is in place.

    ``global_batch`` is what ``fit`` gets as ``batch_size`` (a process's share when several feed
    one global batch); ``weights_of(model)`` reads the trained weights (default ``get_weights``).
    ``sync`` (the engine's backend's ``synchronize``) runs before every clock reading, the
    all-reduced update of the last step included.
    """
    from mnist_mlp.train import HISTORY_KEYS, EpochTimer

    timer = EpochTimer(sync)
    fit = model.fit(x, y, batch_size=global_batch, epochs=epochs, shuffle=shuffle,
                    validation_data=validation_data, verbose=0, callbacks=[timer])
    if sync is not None:
        sync()
    history = {key: [float(v) for v in fit.history.get(key, [])] for key in HISTORY_KEYS}
    weights = [np.asarray(w, dtype=np.float32) for w in (weights_of(model) if weights_of else model.get_weights())]
    # the timed span: training steps only, as torch's engine times it (validation is outside)
    return FitOutcome(weights, history, sum(timer.train_seconds), startup_seconds, list(timer.seconds),
                      list(timer.train_seconds))


def seed_summary(per_seed: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A data-parallel case's throughput over its seeds, cold apart: the first seed of the process
    pays compilation (and the engine's start), the later ones do not. The headline
    ``samples_per_second`` / ``steps_per_second`` are the warm seeds' mean (speedup and efficiency
    come from them), or the cold seed's when it ran alone, said by ``condition``."""
    rows = [{"seed": s.get("seed"), "train_seconds": s.get("train_seconds"),
             "samples_per_second": s.get("samples_per_second"), "steps_per_second": s.get("steps_per_second")}
            for s in per_seed]
    cold, warm = rows[:1], rows[1:]

    def mean(items: Sequence[Mapping[str, Any]], key: str) -> float | None:
        values = [float(item[key]) for item in items if isinstance(item.get(key), (int, float))]
        return sum(values) / len(values) if values else None

    chosen = warm if warm else cold
    return {
        "per_seed": rows,
        "cold": {key: mean(cold, key) for key in ("samples_per_second", "steps_per_second", "train_seconds")},
        "warm": {key: mean(warm, key) for key in ("samples_per_second", "steps_per_second", "train_seconds")} if warm else None,
        "condition": "warm" if warm else "cold (one seed)",
        "samples_per_second": mean(chosen, "samples_per_second"),
        "steps_per_second": mean(chosen, "steps_per_second"),
    }


def reference_fit(config: Any, initial: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray, *,
                  global_batch: int) -> FitOutcome:
    """One epoch on one device (no distribution), unshuffled, from ``initial``: the equivalence yardstick."""
    from mnist_mlp.model import build_model

    model = build_model(config)
    model.set_weights(list(initial))
    return keras_fit(model, x, y, global_batch=global_batch, epochs=1, shuffle=False,
                     validation_data=None, startup_seconds=0.0)


#: the bench variant entries (``runner.variant_suffix``) that make a case data-parallel
VARIANT_KEYS = ("data_parallel", "scaling", "lr_rule")


def case_options(variant: Sequence[tuple[str, Any]]) -> dict[str, Any] | None:
    """``{"devices", "scaling", "lr_rule"}`` of a bench variant, or None when it is not data-parallel."""
    chosen = dict(variant)
    if "data_parallel" not in chosen:
        return None
    return {"devices": int(chosen["data_parallel"]), "scaling": chosen.get("scaling", "strong"),
            "lr_rule": chosen.get("lr_rule", "none")}


def bench_variants(devices: Sequence[int], scaling: str = "strong", lr_rule: str = "none") -> list[tuple[tuple[str, Any], ...]]:
    """One variant per N: ``(("data_parallel", N),)`` plus the scaling and rule when not the defaults.

    Validated here (a strong-scaling N that does not divide 32 is refused before anything runs).
    """
    out = []
    for n in dict.fromkeys(devices):
        ParallelPlan(devices=n, scaling=scaling, lr_rule=lr_rule)
        variant: tuple[tuple[str, Any], ...] = (("data_parallel", n),)
        if scaling != "strong":
            variant += (("scaling", scaling),)
        if lr_rule != "none":
            variant += (("lr_rule", lr_rule),)
        out.append(variant)
    return out

#: under the report's data-parallel table
DATA_PARALLEL_NOTE = (
    "Speedup and efficiency are against the same run's one-device case of the same backend, device and "
    "scaling (dp1), from training samples per second (start-up excluded, shown apart); a dp case's wall time in the "
    "Training table also holds its one-epoch equivalence check, so compare dp cases by these figures. Every epoch holds whole "
    "global batches only: a last partial batch is dropped, in the one-device reference too. max |Δw| is the largest "
    "weight difference after one unshuffled epoch from the same initial weights, N devices against one device "
    f"without distribution (at most {EQUIVALENCE_TOLERANCE:g} is float32 round-off). On a CPU the devices are "
    f"simulated and share the same cores: {SIMULATED_NOTE}. Strong scaling is gated like the one-device case; "
    "weak scaling is not gated (another workload than the calibrated one)."
)
