"""How much arithmetic one sample costs, counted from the layer shapes of the built model.

GFLOP/s and % of peak are only as right as this count. For a stack of Dense layers with
(fan_in, fan_out) shapes, counting a multiply-add as 2 FLOPs:

* forward: every layer's matmul, ``2 * fan_in * fan_out`` per sample;
* backward, weight gradients: the same again (``x^T @ dy`` for every layer);
* backward, input gradients: ``dy @ W^T`` for every layer *but the first*. Autodiff never
  differentiates with respect to the data, and the first layer holds most of the work (96% for
  784-128-32-10), so a training sample is about 2.04 forward passes, not the folklore 3.

Bias adds, activations, the softmax and the loss are elementwise and counted apart
(``elementwise_per_sample``), as is the optimizer's per-step work (Keras' Adam update: 12
elementwise operations per parameter, from ``keras.optimizers.Adam.update_step``: 3 for the first
moment, 4 for the second, 5 for the step). Neither is in the matmul GFLOP/s, which are compared
with a matmul peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: elementwise operations per parameter in one Keras Adam step (see the module docstring)
ADAM_OPS_PER_PARAM = 12


@dataclass(frozen=True)
class FlopModel:
    """FLOP counts of a Dense stack, given each layer's (fan_in, fan_out)."""

    layers: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a FLOP model needs at least one Dense layer")
        for (_, fan_out), (fan_in, _) in zip(self.layers, self.layers[1:]):
            if fan_out != fan_in:
                raise ValueError(f"layer shapes {self.layers} do not chain")

    @classmethod
    def from_units(cls, units: Sequence[int]) -> "FlopModel":
        """``[784, 128, 32, 10]`` -> layers (784, 128), (128, 32), (32, 10)."""
        units = [int(u) for u in units]
        return cls(tuple(zip(units[:-1], units[1:])))

    @classmethod
    def from_weights(cls, weights: Sequence[Any]) -> "FlopModel":
        """From ``[W1, b1, W2, b2, ...]``: every 2-D array is a Dense kernel (fan_in, fan_out)."""
        return cls(tuple((int(w.shape[0]), int(w.shape[1])) for w in weights if np.ndim(w) == 2))

    @classmethod
    def from_model(cls, model: Any) -> "FlopModel":
        """From a built Keras model: the kernel shape of each of its Dense layers, in order."""
        shapes = []
        for layer in model.layers:
            kernel = getattr(layer, "kernel", None)
            if kernel is not None and len(kernel.shape) == 2:
                shapes.append((int(kernel.shape[0]), int(kernel.shape[1])))
        return cls(tuple(shapes))

    @property
    def params(self) -> int:
        return sum(fan_in * fan_out + fan_out for fan_in, fan_out in self.layers)

    @property
    def forward_per_sample(self) -> int:
        return sum(2 * fan_in * fan_out for fan_in, fan_out in self.layers)

    @property
    def weight_gradients_per_sample(self) -> int:
        return self.forward_per_sample

    @property
    def input_gradients_per_sample(self) -> int:
        return sum(2 * fan_in * fan_out for fan_in, fan_out in self.layers[1:])

    @property
    def train_per_sample(self) -> int:
        return self.forward_per_sample + self.weight_gradients_per_sample + self.input_gradients_per_sample

    @property
    def elementwise_per_sample(self) -> int:
        """Forward bias adds and activations (ReLU, softmax about 3 per class), not in the GFLOP/s."""
        outputs = [fan_out for _, fan_out in self.layers]
        return sum(outputs) + sum(outputs[:-1]) + 3 * outputs[-1]

    @property
    def optimizer_per_step(self) -> int:
        return ADAM_OPS_PER_PARAM * self.params

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": [list(layer) for layer in self.layers],
            "params": self.params,
            "forward_per_sample": self.forward_per_sample,
            "weight_gradients_per_sample": self.weight_gradients_per_sample,
            "input_gradients_per_sample": self.input_gradients_per_sample,
            "train_per_sample": self.train_per_sample,
            "elementwise_per_sample": self.elementwise_per_sample,
            "optimizer_per_step": self.optimizer_per_step,
            "counting": "matmuls only, 2 FLOPs per multiply-add; no input gradients for the first layer; "
            "elementwise work and the optimizer apart",
        }


def seed_model() -> FlopModel:
    """The seed's 784-128-32-10 MLP, from ``config``'s shapes (for runs whose child reported none)."""
    from mnist_mlp.config import HIDDEN_UNITS, INPUT_SHAPE, NUM_CLASSES

    return FlopModel.from_units([int(np.prod(INPUT_SHAPE)), *HIDDEN_UNITS, NUM_CLASSES])
