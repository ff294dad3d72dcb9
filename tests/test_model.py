"""The seed's architecture, saving and safe loading (in-process, on KERAS_BACKEND)."""

import json
import zipfile

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mnist_mlp.config import EXPECTED_PARAMS, TrainConfig  # noqa: E402
from mnist_mlp.errors import ModelFileError  # noqa: E402
from mnist_mlp.model import build_model, load_model, save_model  # noqa: E402


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model(TrainConfig())


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    return save_model(model, tmp_path_factory.mktemp("model") / "model.keras")


def test_architecture_is_the_seeds(model):
    assert model.count_params() == EXPECTED_PARAMS
    assert tuple(model.input_shape) == (None, 28, 28)
    assert tuple(model.output_shape) == (None, 10)
    kinds = [(type(layer).__name__, getattr(layer, "units", None)) for layer in model.layers]
    assert kinds == [("Flatten", None), ("Dense", 128), ("Dense", 32), ("Dense", 10)]
    activations = [layer.activation.__name__ for layer in model.layers[1:]]
    assert activations == ["relu", "relu", "softmax"]
    assert type(model.optimizer).__name__ == "Adam"
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)


def test_save_and_load_round_trip(model, saved):
    loaded = load_model(saved)
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_save_requires_keras_suffix(model, tmp_path):
    with pytest.raises(ModelFileError, match="must end in .keras"):
        save_model(model, tmp_path / "model.h5")


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found"):
        load_model(tmp_path / "nope.keras")


def test_not_a_zip(tmp_path):
    path = tmp_path / "fake.keras"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(path)


def test_truncated_model(saved, tmp_path):
    path = tmp_path / "cut.keras"
    path.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(ModelFileError, match=str(path.name)):
        load_model(path)


def _rewrite_config(saved, tmp_path, edit):
    """A copy of ``saved`` whose config.json went through ``edit``."""
    path = tmp_path / "edited.keras"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    return path


def test_lambda_layer_is_refused_before_loading(saved, tmp_path):
    def add_lambda(config):
        config["config"]["layers"].insert(
            2,
            {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "evil", "function": "os.system"}},
        )

    with pytest.raises(ModelFileError, match="Lambda, outside the seed's architecture"):
        load_model(_rewrite_config(saved, tmp_path, add_lambda))


def test_foreign_module_is_refused(saved, tmp_path):
    def foreign(config):
        config["config"]["layers"][2]["module"] = "evil.layers"

    with pytest.raises(ModelFileError, match="from module 'evil.layers', refused"):
        load_model(_rewrite_config(saved, tmp_path, foreign))


def test_wrong_units_refused(saved, tmp_path):
    def widen(config):
        config["config"]["layers"][2]["config"]["units"] = 256

    with pytest.raises(ModelFileError, match="Dense 256 relu, expected Dense 128 relu"):
        load_model(_rewrite_config(saved, tmp_path, widen))


def test_wrong_input_shape_refused(saved, tmp_path):
    def reshape(config):
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, 32, 32]

    with pytest.raises(ModelFileError, match=r"input shape \[None, 32, 32\]"):
        load_model(_rewrite_config(saved, tmp_path, reshape))


def test_nan_weights_refused(tmp_path):
    keras.utils.set_random_seed(0)
    bad = build_model()
    weights = bad.get_weights()
    weights[2][0, 0] = np.nan
    bad.set_weights(weights)
    path = save_model(bad, tmp_path / "nan.keras")
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        load_model(path)
