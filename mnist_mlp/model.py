"""The seed's MLP: build, compile, save and load it, refusing anything else.

Imports keras at module level: import this only after ``mnist_mlp.backends.select``.
A ``.keras`` file is a zip; its ``config.json`` is checked against the seed's architecture
*before* Keras deserialises anything, and loading always uses Keras' safe mode, so a file with a
Lambda layer (arbitrary code) or any other layer is refused, never executed.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np

from mnist_mlp import atomic
from mnist_mlp.config import EXPECTED_PARAMS, HIDDEN_UNITS, INPUT_SHAPE, NUM_CLASSES, TrainConfig
from mnist_mlp.errors import ModelFileError

#: (class name, units, activation) of each layer after the input, in order
EXPECTED_LAYERS = (
    ("Flatten", None, None),
    ("Dense", HIDDEN_UNITS[0], "relu"),
    ("Dense", HIDDEN_UNITS[1], "relu"),
    ("Dense", NUM_CLASSES, "softmax"),
)


def build_model(config: TrainConfig = TrainConfig(), hidden_units: tuple[int, int] = HIDDEN_UNITS,
                optimizer: keras.optimizers.Optimizer | None = None) -> keras.Model:
    """Input 28x28, Flatten, Dense 128 ReLU, Dense 32 ReLU, Dense 10 softmax; compiled (with
    ``optimizer`` where an open-division recipe sets Adam's other settings, else the seed's Adam).

    ``hidden_units`` exists for one deliberate regression only (``mnist_mlp.gate.regressions``, a
    smaller hidden layer to measure the gate's power); everything else builds the seed's sizes.
    """
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            keras.layers.Flatten(),
            keras.layers.Dense(hidden_units[0], activation="relu"),
            keras.layers.Dense(hidden_units[1], activation="relu"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="mnist_mlp",
    )
    compile_model(model, config, optimizer)
    return model


def compile_model(model: keras.Model, config: TrainConfig = TrainConfig(),
                  optimizer: keras.optimizers.Optimizer | None = None) -> None:
    """Adam, sparse categorical cross-entropy, accuracy: the seed's compile step."""
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save as ``.keras``, atomically: an interrupted save leaves no half-written model."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: a model file must end in .keras")
    return atomic.write_with(path, lambda tmp: _save_to(model, tmp))


def _save_to(model: keras.Model, tmp: Path) -> None:
    keras_tmp = tmp.with_name(tmp.name + ".keras")  # keras insists on the suffix
    try:
        model.save(keras_tmp)
        keras_tmp.replace(tmp)
    finally:
        keras_tmp.unlink(missing_ok=True)


def check_model_archive(path: str | Path) -> None:
    """Refuse a file that is not the seed's architecture, reading only its ``config.json``."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found")
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read("config.json")
            bad = archive.testzip()
    except zipfile.BadZipFile:
        raise ModelFileError(f"{path}: not a .keras model (not a zip archive, or truncated)") from None
    except KeyError:
        raise ModelFileError(f"{path}: not a .keras model (no config.json inside)") from None
    except (OSError, EOFError, zipfile.LargeZipFile) as exc:
        raise ModelFileError(f"{path}: unreadable model archive ({exc})") from None
    if bad is not None:
        raise ModelFileError(f"{path}: corrupt model archive (bad CRC in {bad})")
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ModelFileError(f"{path}: config.json inside is not valid JSON") from None
    _check_architecture(path, config)


def _check_architecture(path: Path, config: object) -> None:
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(f"{path}: expected the seed's Sequential MLP, found {found!r}")
    layers = (config.get("config") or {}).get("layers")
    if not isinstance(layers, list):
        raise ModelFileError(f"{path}: model config has no layer list")
    if layers and isinstance(layers[0], dict) and layers[0].get("class_name") == "InputLayer":
        shape = (layers[0].get("config") or {}).get("batch_shape")
        if not isinstance(shape, list) or tuple(shape[1:]) != INPUT_SHAPE:
            raise ModelFileError(f"{path}: input shape {shape} is not (None, 28, 28)")
        layers = layers[1:]
    names = [layer.get("class_name") if isinstance(layer, dict) else None for layer in layers]
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise ModelFileError(f"{path}: layer {index} is not a layer description")
        if layer.get("module") not in (None, "keras.layers"):
            raise ModelFileError(f"{path}: layer {index} comes from module {layer.get('module')!r}, refused")
    expected = [name for name, _, _ in EXPECTED_LAYERS]
    if names != expected:
        index = next(
            i for i in range(max(len(names), len(expected)))
            if i >= len(names) or i >= len(expected) or names[i] != expected[i]
        )
        found = names[index] if index < len(names) else "nothing"
        raise ModelFileError(
            f"{path}: layer {index + 1} is {found}, outside the seed's architecture "
            f"(Input, {', '.join(expected)})"
        )
    for index, (layer, (_, units, activation)) in enumerate(zip(layers, EXPECTED_LAYERS)):
        cfg = layer.get("config") or {}
        if units is not None and (cfg.get("units") != units or cfg.get("activation") != activation):
            raise ModelFileError(
                f"{path}: layer {index + 1} is Dense {cfg.get('units')} {cfg.get('activation')}, "
                f"expected Dense {units} {activation}"
            )


def load_model(path: str | Path) -> keras.Model:
    """Load a saved seed model in safe mode, after checking its architecture and weights."""
    path = Path(path)
    check_model_archive(path)
    try:
        with warnings.catch_warnings():
            # a model saved before training has no optimizer state; that is no concern here
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model = keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # keras raises many types for a damaged archive
        raise ModelFileError(f"{path}: cannot load model ({_one_line(exc)})") from None
    check_model(model, path)
    return model


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """Exception text on one line (keras' messages span many, with the real cause after the first)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_model(model: keras.Model, path: str | Path = "model") -> None:
    """Shapes, parameter count and finite weights: what a result needs to be trusted."""
    if tuple(model.input_shape[1:]) != INPUT_SHAPE or tuple(model.output_shape[1:]) != (NUM_CLASSES,):
        raise ModelFileError(
            f"{path}: input/output shapes {model.input_shape} -> {model.output_shape}, "
            f"expected (None, 28, 28) -> (None, 10)"
        )
    if model.count_params() != EXPECTED_PARAMS:
        raise ModelFileError(f"{path}: {model.count_params()} parameters, expected {EXPECTED_PARAMS}")
    for weight in model.weights:
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(weight))):
            raise ModelFileError(f"{path}: weight {weight.path} holds NaN or infinite values")
