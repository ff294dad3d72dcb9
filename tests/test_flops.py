"""The FLOP model follows the layer shapes: forward, weight and input gradients, counted apart."""

from __future__ import annotations

import pytest

from mnist_mlp.config import EXPECTED_PARAMS
from mnist_mlp.flops import ADAM_OPS_PER_PARAM, FlopModel, seed_model


def test_seed_model_counts():
    model = seed_model()
    assert model.layers == ((784, 128), (128, 32), (32, 10))
    assert model.forward_per_sample == 209_536
    assert model.weight_gradients_per_sample == 209_536
    assert model.input_gradients_per_sample == 8_832  # layers 2 and 3 only: nothing differentiates the data
    assert model.train_per_sample == 427_904
    assert model.train_per_sample / model.forward_per_sample == pytest.approx(2.042, abs=1e-3)
    assert model.params == EXPECTED_PARAMS
    assert model.optimizer_per_step == ADAM_OPS_PER_PARAM * EXPECTED_PARAMS


@pytest.mark.parametrize("units, forward, train", [
    # 784-256-32-10 (the power study's wider model), by hand:
    #   forward 2 x (784x256 + 256x32 + 32x10) = 2 x (200,704 + 8,192 + 320) = 418,432
    #   train: forward + weight gradients (418,432) + input gradients of layers 2 and 3,
    #          2 x (8,192 + 320) = 17,024: 853,888
    ((784, 256, 32, 10), 418_432, 853_888),
    # 784-64-10: forward 2 x (50,176 + 640) = 101,632; train 2 x 101,632 + 2 x 640 = 204,544
    ((784, 64, 10), 101_632, 204_544),
    # 100-7-3-2: forward 2 x (700 + 21 + 6) = 1,454; train 2,908 + 2 x (21 + 6) = 2,962
    ((100, 7, 3, 2), 1_454, 2_962),
])
def test_counts_against_hand_counted_numbers(units, forward, train):
    model = FlopModel.from_units(units)
    assert model.forward_per_sample == forward
    assert model.train_per_sample == train
    assert model.input_gradients_per_sample == train - 2 * forward


@pytest.mark.parametrize("units", [(784, 64, 10), (784, 256, 64, 10), (100, 7, 3, 2)])
def test_counts_follow_other_layer_sizes(units):
    model = FlopModel.from_units(units)
    pairs = list(zip(units[:-1], units[1:]))
    forward = sum(2 * a * b for a, b in pairs)
    assert model.forward_per_sample == forward
    assert model.train_per_sample == 2 * forward + sum(2 * a * b for a, b in pairs[1:])
    assert model.to_dict()["layers"] == [list(p) for p in pairs]


def test_from_a_built_keras_model_with_other_sizes():
    import keras

    model = keras.Sequential([
        keras.Input(shape=(28, 28)), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10, activation="softmax"),
    ])
    counted = FlopModel.from_model(model)
    assert counted.layers == ((784, 64), (64, 16), (16, 10))
    assert counted.train_per_sample == 2 * 2 * (784 * 64 + 64 * 16 + 16 * 10) + 2 * (64 * 16 + 16 * 10)
    assert counted.params == model.count_params()


def test_from_weights_reads_only_kernels():
    import numpy as np

    weights = [np.zeros((784, 128)), np.zeros(128), np.zeros((128, 32)), np.zeros(32), np.zeros((32, 10)), np.zeros(10)]
    assert FlopModel.from_weights(weights) == seed_model()


def test_shapes_that_do_not_chain_are_refused():
    with pytest.raises(ValueError, match="do not chain"):
        FlopModel(((784, 128), (64, 10)))
    with pytest.raises(ValueError):
        FlopModel(())
