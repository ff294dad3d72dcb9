"""The per-step proof of a recipe: its steps, in the implementation that races it, against NumPy.

``verify --training`` proves the seed's Adam step by step; a recipe changes the batch, Adam's
settings and the learning rate between epochs, so its proof runs ``verify_training`` with the
recipe's batch and Adam and a few short epochs, each at the learning rate the recipe gives that
epoch, on the checked side and on the NumPy reference alike. A schedule applied wrongly (a rate
not set, set late, or a different one) moves the weights away from the reference and fails it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mnist_mlp.config import TrainConfig
from mnist_mlp.race.recipe import Recipe
from mnist_mlp.reference.training import AdamSettings


def check_recipe(backend: str, implementation: str, recipe: Recipe, x_train: np.ndarray, y_train: np.ndarray, *,
                 epochs: int = 3, steps_per_epoch: int = 3, config: TrainConfig | None = None,
                 **options: Any) -> dict[str, Any]:
    """``verify_training`` over ``epochs`` epochs of ``steps_per_epoch`` steps at the recipe's first
    learning rates; ``options`` go to ``verify_training`` (a test hands in a broken trainer)."""
    from mnist_mlp.reference.verify import verify_training

    config = config or TrainConfig(batch_size=recipe.batch_size)
    config = config.replace(learning_rate=recipe.learning_rate_at(0))
    adam = AdamSettings(learning_rate=recipe.learning_rate_at(0), beta_1=recipe.beta_1, beta_2=recipe.beta_2,
                        epsilon=recipe.epsilon)
    if (adam.beta_1, adam.beta_2, adam.epsilon) != (AdamSettings().beta_1, AdamSettings().beta_2, AdamSettings().epsilon):
        return {"skipped": "the proof builds Keras' Adam with its default betas and epsilon; this recipe changes them"}
    rates = recipe.learning_rates(epochs)
    result = verify_training(backend, x_train, y_train, steps=epochs * steps_per_epoch, config=config,
                             implementation=implementation, learning_rates=rates, steps_per_epoch=steps_per_epoch,
                             **options)
    if recipe.steps_per_execution > 1:  # train_on_batch runs one step a call, whatever the compile option
        result = {**result, "note": f"proven one step per call; that {recipe.steps_per_execution} steps per execution "
                                    "compute the same steps is shown by tests/test_race.py"}
    return {**result, "recipe": recipe.name}
