"""One seed of the race to the target: the clock, its parts, the curve, the weights.

A racer trains the seed's network with a recipe (``race.recipe``) under the rules
(``race.rules``): the clock starts before the data files are read; after each epoch the test set is
evaluated inside the clock; the run stops at the first evaluation at or above the target, or when
the recipe's epoch budget is spent. The clock is read only at consecutive marks, so its parts
(``PARTS``) sum to the whole by construction, and nothing is left out or paused.

What differs between implementation families lives in one class each: ``KerasRacer`` drives
Keras' own ``fit`` with its ``LearningRateScheduler`` and a callback that evaluates and stops;
``NativeRacer`` drives a native ``Trainer`` (``mnist_mlp.native``) with ``set_learning_rate``
between epochs. ``racer_for`` picks by implementation name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from mnist_mlp.config import HIDDEN_UNITS, NUM_CLASSES
from mnist_mlp.race.recipe import Recipe

#: the clock's parts, in the order they first occur
PARTS = ("data", "setup", "first_epoch", "later_epochs", "evaluation", "other")
INPUTS = 28 * 28


class Clock:
    """A wall clock (``perf_counter``) read at consecutive marks: each mark charges the time since
    the previous one to a part, so the parts always sum to the elapsed total."""

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self._sync = sync or (lambda: None)
        self.parts = {name: 0.0 for name in PARTS}
        self.start = self.last = time.perf_counter()

    def mark(self, part: str) -> float:
        """Charge the time since the last mark to ``part``; return the total so far."""
        self._sync()
        now = time.perf_counter()
        self.parts[part] += now - self.last
        self.last = now
        return now - self.start


@dataclass
class RaceRun:
    """One seed's race: reached or not, at which epoch and second, with the clock's parts, the
    test-accuracy curve (one point per epoch, with its learning rate) and the final weights."""

    seed: int
    reached: bool
    epochs: int
    seconds: float
    test_accuracy: float
    parts: dict[str, float]
    curve: list[dict[str, float]]
    weights: list[np.ndarray] = field(repr=False, default_factory=list)
    #: a run that trained its whole budget (``stop_at_target=False``): the clock and accuracy at its end
    budget_seconds: float | None = None
    budget_test_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"seed": self.seed, "reached": self.reached, "epochs": self.epochs, "seconds": self.seconds,
               "test_accuracy": self.test_accuracy, "parts": dict(self.parts), "curve": list(self.curve)}
        if self.budget_seconds is not None:
            out.update(budget_seconds=self.budget_seconds, budget_test_accuracy=self.budget_test_accuracy)
        return out


def file_reader(data_dir: str | None) -> Callable[[], Any]:
    """A racer's ``load``: each call reads the MNIST files again (the memo cleared, as each seed's
    clock must read them), without checking their SHA-256 again: the caller verifies them once,
    outside every clock (``load_mnist(data_dir)``)."""
    from mnist_mlp.data import clear_cache, load_mnist

    def load() -> Any:
        clear_cache()
        return load_mnist(data_dir, verify=False)

    return load


def glorot_uniform(seed: int) -> list[np.ndarray]:
    """Keras' default initialisation of the seed's Dense layers (glorot-uniform kernels, zero
    biases), drawn from NumPy's generator: the native racers' own, inside the clock."""
    rng = np.random.default_rng(seed)
    sizes = (INPUTS, *HIDDEN_UNITS, NUM_CLASSES)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights += [rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32), np.zeros(fan_out, np.float32)]
    return weights


class Racer:
    """The race's loop, shared: data inside the clock, then ``setup`` and ``train`` (the family's),
    with ``epoch_began`` and ``epoch_ended`` called around every epoch's training."""

    #: the implementations this family races (``racer_for``)
    implementations: ClassVar[tuple[str, ...]] = ()

    def __init__(self, backend: str, implementation: str, recipe: Recipe, target: float,
                 load: Callable[[], Any], sync: Callable[[], None] | None = None) -> None:
        self.backend, self.implementation, self.recipe, self.target = backend, implementation, recipe, target
        self._load, self._sync = load, sync

    def race(self, seed: int, stop_at_target: bool = True) -> RaceRun:
        """One seed's race. ``stop_at_target=False`` trains the whole epoch budget (the seed's own
        recipe, for its 25-epoch time) and still reports the first evaluation at the target."""
        self.release()
        self.clock = Clock(self._sync)
        mnist = self._load()
        self.x_train, self.x_test = self.inputs(mnist.x_train), self.inputs(mnist.x_test)
        self.y_train, self.y_test = np.asarray(mnist.y_train), np.asarray(mnist.y_test)
        self.clock.mark("data")
        self.stop_at_target, self.curve, self.first = stop_at_target, [], None
        self.setup(seed)
        self.clock.mark("setup")
        self.train()
        at = self.first or self.curve[-1]
        run = RaceRun(seed=seed, reached=self.first is not None, epochs=int(at["epoch"]), seconds=at["seconds"],
                      test_accuracy=at["test_accuracy"], parts=dict(at["parts"]),
                      curve=[{k: v for k, v in point.items() if k != "parts"} for point in self.curve],
                      weights=self.weights())
        if not stop_at_target:
            run.budget_seconds, run.budget_test_accuracy = self.curve[-1]["seconds"], self.curve[-1]["test_accuracy"]
        return run

    def release(self) -> None:
        """Free the previous seed's trainer, model and data before this seed's clock starts.

        A trainer holds reference cycles (compiled functions closing over it), so only the cyclic
        garbage collector frees it, whenever allocations trigger it: without this, possibly inside
        the next seed's clock. That teardown is the previous seed's; a user racing once never pays
        it. How much it cost is not shown: ``benchmarks/race_teardown.py`` times reading the data
        right after a race with and without it, and in its committed run
        (``reports/open/teardown``) the two ways read alike (0.213 and 0.212 s, medians)."""
        import gc

        for name in ("trainer", "model", "x_train", "y_train", "x_test", "y_test"):
            self.__dict__.pop(name, None)
        gc.collect()

    def epoch_began(self, epoch: int) -> None:
        self.clock.mark("other")

    def epoch_ended(self, epoch: int, learning_rate: float) -> bool:
        """Evaluate on the test set inside the clock; True when the race stops here."""
        self.clock.mark("first_epoch" if epoch == 0 else "later_epochs")
        accuracy = float(np.mean(self.predict_classes(self.x_test) == self.y_test))
        seconds = self.clock.mark("evaluation")  # the clock stops when this evaluation returns
        self.curve.append({"epoch": epoch + 1, "seconds": seconds, "test_accuracy": accuracy,
                           "learning_rate": learning_rate, "parts": dict(self.clock.parts)})
        if accuracy >= self.target and self.first is None:
            self.first = self.curve[-1]
        return self.first is not None and self.stop_at_target

    def inputs(self, images: np.ndarray) -> np.ndarray:
        """The loaded uint8 images as this family trains on them, inside the clock's data part."""
        raise NotImplementedError

    def setup(self, seed: int) -> None:
        raise NotImplementedError

    def train(self) -> None:
        raise NotImplementedError

    def predict_classes(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def weights(self) -> list[np.ndarray]:
        raise NotImplementedError


class KerasRacer(Racer):
    """Keras' own API: the seeded model, ``Adam`` with the recipe's settings, compiled with the
    recipe's ``steps_per_execution``, ``fit`` on the 60,000 training images with
    ``LearningRateScheduler`` and a callback that evaluates and stops."""

    implementations = ("keras",)

    def inputs(self, images: np.ndarray) -> np.ndarray:
        """Scaled on the host (``data.scale``), as the seed's script feeds its model."""
        from mnist_mlp.data import scale

        return scale(images)

    def setup(self, seed: int) -> None:
        import keras

        from mnist_mlp.config import TrainConfig
        from mnist_mlp.model import build_model
        from mnist_mlp.train import set_random_seed

        r = self.recipe
        set_random_seed(seed)
        self.model = build_model(TrainConfig(seed=seed, batch_size=r.batch_size, learning_rate=r.learning_rate_at(0),
                                             steps_per_execution=r.steps_per_execution),
                                 optimizer=keras.optimizers.Adam(learning_rate=r.learning_rate_at(0), beta_1=r.beta_1,
                                                                 beta_2=r.beta_2, epsilon=r.epsilon))

    def train(self) -> None:
        import keras

        racer = self

        class _RaceCallback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                racer.epoch_began(epoch)

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
                if racer.epoch_ended(epoch, rate):
                    self.model.stop_training = True

        schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: self.recipe.learning_rate_at(epoch))
        self.model.fit(self.x_train, self.y_train, batch_size=self.recipe.batch_size, epochs=self.recipe.epochs,
                       shuffle=True, verbose=0, callbacks=[schedule, _RaceCallback()])

    def predict_classes(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x, batch_size=len(x), verbose=0)).argmax(axis=1)

    def weights(self) -> list[np.ndarray]:
        from mnist_mlp.reference.forward import weights_from_model

        return weights_from_model(self.model)


class NativeRacer(Racer):
    """A native ``Trainer``: NumPy glorot-uniform initial weights, the recipe's Adam, one shuffled
    permutation per epoch (seeded), ``set_learning_rate`` before each epoch. The images go to the
    trainer as raw uint8 pixel rows, which it scales on its device to ``data.scale``'s values
    (``native.base.pixel_rows``): the same inputs, a quarter of the bytes."""

    implementations = ("native", "native-fast")

    def inputs(self, images: np.ndarray) -> np.ndarray:
        from mnist_mlp.native.base import pixel_rows

        return pixel_rows(images)

    def setup(self, seed: int) -> None:
        from mnist_mlp import native
        from mnist_mlp.reference.training import AdamSettings

        r = self.recipe
        adam = AdamSettings(learning_rate=r.learning_rate_at(0), beta_1=r.beta_1, beta_2=r.beta_2, epsilon=r.epsilon)
        self.rng = np.random.default_rng(seed)
        self.trainer = native.get(self.backend, self.implementation)(
            glorot_uniform(seed), adam, self.x_train, self.y_train.astype(np.int32), r.batch_size)

    def train(self) -> None:
        for epoch in range(self.recipe.epochs):
            self.epoch_began(epoch)
            rate = self.recipe.learning_rate_at(epoch)
            self.trainer.set_learning_rate(rate)
            self.trainer.epoch(self.rng.permutation(len(self.x_train)))
            if self.epoch_ended(epoch, rate):
                return

    def predict_classes(self, x: np.ndarray) -> np.ndarray:
        return self.trainer.probabilities(x).argmax(axis=1)

    def weights(self) -> list[np.ndarray]:
        return self.trainer.weights()


RACERS: tuple[type[Racer], ...] = (KerasRacer, NativeRacer)


def racer_for(implementation: str) -> type[Racer]:
    """The racer class of ``implementation`` (keras, native, native-fast)."""
    for racer in RACERS:
        if implementation in racer.implementations:
            return racer
    raise ValueError(f"no racer for implementation {implementation!r}")
