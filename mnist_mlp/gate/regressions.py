"""Deliberate regressions of the seed workload: real changes to what is trained, at a strength.

The accuracy gate promises few false alarms (``mnist_mlp.gate.calibration``); what it cannot promise
by construction is *power*: how small a real regression it sees. ``benchmarks/gate_power.py``
measures that by training each regression here at several strengths, on the same seeds as a
healthy control, and judging the accuracies with the gate itself (``mnist_mlp.gate.power``).

Each kind is one class that says how it changes the training config, the training labels or the
model's hidden layers; the benchmark harness never uses any of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mnist_mlp.config import HIDDEN_UNITS, TrainConfig, check_positive_int
from mnist_mlp.errors import UsageError


@dataclass(frozen=True)
class Regression:
    """The healthy seed workload: changes nothing (the control every regression is measured against)."""

    strength: Any = None
    kind: ClassVar[str] = "healthy"
    what: ClassVar[str] = "the seed workload, unchanged"

    def check(self) -> None:
        """UsageError when the strength is not one this kind can apply."""

    @property
    def label(self) -> str:
        return self.kind if self.strength is None else f"{self.kind}={self.strength:g}"

    def config(self, base: TrainConfig) -> TrainConfig:
        return base

    def labels(self, y_train: np.ndarray, seed: int) -> np.ndarray:
        return y_train

    def hidden_units(self) -> tuple[int, int] | None:
        """The hidden layers' sizes, or None for the seed's."""
        return None


@dataclass(frozen=True)
class LabelShuffle(Regression):
    """A fraction of the training images (validation part included) get their labels permuted
    among themselves: label noise of about ``strength x 0.9`` (a permuted label may land on its
    own class). The images chosen and the permutation follow the training seed."""

    kind: ClassVar[str] = "label_shuffle"
    what: ClassVar[str] = "fraction of training labels shuffled"

    def check(self) -> None:
        if not isinstance(self.strength, (int, float)) or not 0.0 < self.strength <= 1.0:
            raise UsageError(f"label_shuffle: the fraction must be in (0, 1], got {self.strength!r}")

    def labels(self, y_train: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng([seed, 0x1abe1])
        chosen = rng.choice(len(y_train), size=round(self.strength * len(y_train)), replace=False)
        out = np.array(y_train, copy=True)
        out[chosen] = out[rng.permutation(chosen)]
        return out


@dataclass(frozen=True)
class FewerEpochs(Regression):
    """Training stops after ``strength`` epochs instead of 25."""

    kind: ClassVar[str] = "epochs"
    what: ClassVar[str] = "epochs trained (seed: 25)"

    def check(self) -> None:
        check_positive_int(self.kind, self.strength)

    def config(self, base: TrainConfig) -> TrainConfig:
        return base.replace(epochs=self.strength)


@dataclass(frozen=True)
class LearningRate(Regression):
    """Adam's learning rate set to ``strength`` instead of 0.001."""

    kind: ClassVar[str] = "learning_rate"
    what: ClassVar[str] = "Adam learning rate (seed: 0.001)"

    def check(self) -> None:
        if not isinstance(self.strength, (int, float)) or not 0 < self.strength < math.inf:
            raise UsageError(f"learning_rate: must be a positive finite number, got {self.strength!r}")

    def config(self, base: TrainConfig) -> TrainConfig:
        return base.replace(learning_rate=float(self.strength))


@dataclass(frozen=True)
class SmallerHidden(Regression):
    """The first hidden layer has ``strength`` units instead of 128 (the second keeps 32)."""

    kind: ClassVar[str] = "hidden_units"
    what: ClassVar[str] = "units in the first hidden layer (seed: 128)"

    def check(self) -> None:
        check_positive_int(self.kind, self.strength)

    def hidden_units(self) -> tuple[int, int]:
        return (self.strength, HIDDEN_UNITS[1])


KINDS: dict[str, type[Regression]] = {cls.kind: cls for cls in (Regression, LabelShuffle, FewerEpochs, LearningRate, SmallerHidden)}


def _kind(kind: str) -> type[Regression]:
    if kind not in KINDS:
        raise UsageError(f"regression {kind!r}: not one of {', '.join(KINDS)}")
    return KINDS[kind]


def make(kind: str, strength: Any = None) -> Regression:
    """The regression of that kind at that strength, checked (UsageError names what is wrong)."""
    regression = _kind(kind)(strength)
    regression.check()
    return regression


def parse(text: str) -> list[Regression]:
    """``label_shuffle=0.05,0.1`` -> one regression per strength; ``healthy`` -> the control."""
    kind, _, values = text.partition("=")
    kind = _kind(kind.strip()).kind
    if kind == Regression.kind:
        if values:
            raise UsageError(f"{text!r}: healthy takes no strength")
        return [make(kind)]
    if not values:
        raise UsageError(f"{text!r}: give strengths, e.g. {kind}=0.1,0.2")
    cast = float if kind in ("label_shuffle", "learning_rate") else int
    out = []
    for value in values.split(","):
        try:
            strength = cast(value)
        except ValueError:
            raise UsageError(f"{text!r}: {value!r} is not a {'number' if cast is float else 'whole number'}") from None
        out.append(make(kind, strength))
    return out
