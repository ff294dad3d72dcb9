"""The seed's settings as frozen dataclasses, validated on construction.

Every result file stores ``asdict(config)``: a number without the settings that produced it
cannot be compared with another.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mnist_mlp.errors import UsageError

BACKENDS = ("tensorflow", "jax", "torch")
DEVICES = ("cpu", "gpu")
INPUT_SHAPE = (28, 28)
HIDDEN_UNITS = (128, 32)
NUM_CLASSES = 10
#: 784*128+128 + 128*32+32 + 32*10+10
EXPECTED_PARAMS = 104_938
#: the figure the seed notebook reports after 25 epochs
SEED_TEST_ACCURACY = 0.979


def check_positive_int(name: str, value: Any) -> int:
    """``value`` if it is a whole number of at least 1 (not a bool), else UsageError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{name}: must be a whole number of at least 1, got {value!r}")
    return value


@dataclass(frozen=True)
class TrainConfig:
    """The seed workload: 25 epochs of Adam at batch 32 on 80% of the training set."""

    epochs: int = 25
    batch_size: int = 32
    validation_split: float = 0.2
    seed: int = 0
    learning_rate: float = 1e-3
    #: Keras ``compile(jit_compile=...)``; "auto" is Keras' default (the seed's)
    jit_compile: bool | str = "auto"
    #: Keras ``compile(steps_per_execution=...)``; 1 is Keras' default (the seed's)
    steps_per_execution: int = 1
    #: the seed scales inputs to [0, 1]; False exists only to demonstrate the accuracy gate
    scale_inputs: bool = True
    #: fit on the first N training images only (validation split included); None: all 60,000,
    #: the seed's. The quick profile sets it: a smoke run checks that training works, not how fast
    #: a full epoch is. Results written before this field existed lack it, which also means all.
    train_samples: int | None = None

    def __post_init__(self) -> None:
        check_positive_int("--epochs", self.epochs)
        check_positive_int("--batch-size", self.batch_size)
        check_positive_int("--steps-per-execution", self.steps_per_execution)
        split = self.validation_split
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0.0 < split < 1.0:
            raise UsageError(f"--validation-split: must be strictly between 0 and 1, got {split!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError(f"--seed: must be a whole number of at least 0, got {self.seed!r}")
        lr = self.learning_rate
        if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise UsageError(f"--learning-rate: must be a positive number, got {lr!r}")
        if self.train_samples is not None:
            check_positive_int("--train-samples", self.train_samples)
            if self.train_samples < 10:
                raise UsageError(f"--train-samples: at least 10 images (batch and validation split), got {self.train_samples}")
        if self.jit_compile not in ("auto", True, False):
            raise UsageError(f"--jit-compile: must be auto, true or false, got {self.jit_compile!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied and validated again."""
        return TrainConfig(**{**asdict(self), **changes})


def parse_jit_compile(text: str) -> bool | str:
    """``auto|true|false`` from the command line into Keras' ``jit_compile`` value."""
    lowered = str(text).strip().lower()
    table = {"auto": "auto", "true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
    if lowered not in table:
        raise UsageError(f"--jit-compile: must be auto, true or false, got {text!r}")
    return table[lowered]


@dataclass(frozen=True)
class ModelSpec:
    """The architecture, written next to every result so a changed model is never compared."""

    input_shape: tuple[int, int] = INPUT_SHAPE
    hidden_units: tuple[int, ...] = HIDDEN_UNITS
    num_classes: int = NUM_CLASSES
    activations: tuple[str, ...] = ("relu", "relu", "softmax")
    optimizer: str = "adam"
    loss: str = "sparse_categorical_crossentropy"
    params: int = EXPECTED_PARAMS
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed_span(seeds: list) -> str:
    """``10-29`` for consecutive seeds, else the list: ``3, 5, 8``."""
    if seeds and all(isinstance(s, int) for s in seeds) and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ", ".join(map(str, seeds))
