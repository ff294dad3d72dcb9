"""The frozen config carries the seed's defaults and refuses impossible values."""

import dataclasses

import pytest

from mnist_mlp.config import EXPECTED_PARAMS, TrainConfig, parse_jit_compile
from mnist_mlp.errors import UsageError


def test_defaults_are_the_seeds():
    config = TrainConfig()
    assert (config.epochs, config.batch_size, config.validation_split, config.seed) == (25, 32, 0.2, 0)
    assert config.learning_rate == 0.001
    assert config.jit_compile == "auto" and config.steps_per_execution == 1


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 3


def test_model_constants_follow_from_the_architecture():
    assert EXPECTED_PARAMS == 784 * 128 + 128 + 128 * 32 + 32 + 32 * 10 + 10


@pytest.mark.parametrize(
    "changes, argument",
    [
        ({"epochs": 0}, "--epochs"),
        ({"epochs": -3}, "--epochs"),
        ({"batch_size": 0}, "--batch-size"),
        ({"validation_split": 0.0}, "--validation-split"),
        ({"validation_split": 1.0}, "--validation-split"),
        ({"validation_split": 1.5}, "--validation-split"),
        ({"seed": -1}, "--seed"),
        ({"learning_rate": 0.0}, "--learning-rate"),
        ({"learning_rate": float("nan")}, "--learning-rate"),
        ({"steps_per_execution": 0}, "--steps-per-execution"),
        ({"train_samples": 0}, "--train-samples"),
        ({"train_samples": 5}, "--train-samples"),
        ({"train_samples": 1.5}, "--train-samples"),
    ],
)
def test_bad_values_name_the_argument(changes, argument):
    with pytest.raises(UsageError, match=argument):
        TrainConfig().replace(**changes)


def test_jit_compile_parsing():
    assert parse_jit_compile("auto") == "auto"
    assert parse_jit_compile("True") is True
    assert parse_jit_compile("off") is False
    with pytest.raises(UsageError, match="--jit-compile"):
        parse_jit_compile("sometimes")
