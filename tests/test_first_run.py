"""A newcomer's first run: no MNIST_DATA_DIR, nothing in Keras' cache, so Keras downloads MNIST.

Keras prints its download line and progress bar on standard output; ``--json`` must still put
exactly one JSON object there. The download is faked (tests never reach the network): the fake
prints what Keras prints and returns the real arrays.
"""

from __future__ import annotations

import json

import pytest

keras = pytest.importorskip("keras")

from mnist_mlp import data  # noqa: E402
from mnist_mlp.cli import main as cli  # noqa: E402
from mnist_mlp.errors import DataError  # noqa: E402
from mnist_mlp.model import build_model, save_model  # noqa: E402

KERAS_LINES = (
    "Downloading data from https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
    "11490434/11490434 ━━━━━━━━━━━━━━━━━━━━ 1s 0us/step",
)


@pytest.fixture
def first_run(monkeypatch, tmp_path, mnist):
    """No local MNIST and an empty Keras cache; Keras' load_data faked to print as it does."""
    calls = []

    def fake_load_data():
        calls.append(1)
        for line in KERAS_LINES:
            print(line)
        return (mnist.x_train, mnist.y_train), (mnist.x_test, mnist.y_test)

    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(data.OFFLINE_ENV, raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    data.clear_cache()
    yield calls
    data.clear_cache()


def test_json_stays_one_object_while_keras_downloads(first_run, tmp_path, capsys):
    keras.utils.set_random_seed(0)
    model = save_model(build_model(), tmp_path / "model.keras")
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(model), "--index", "0", "--json"]) == 0
    out, err = capsys.readouterr()
    assert first_run == [1]  # the (fake) download really ran
    payload = json.loads(out)  # the whole of standard output is one JSON object
    assert isinstance(payload, dict)
    for line in KERAS_LINES:
        assert line in err and line not in out


def test_offline_refuses_to_download_in_one_line(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: pytest.fail("tried to download"))
    data.clear_cache()
    try:
        with pytest.raises(DataError, match=r"^MNIST not found locally .* downloads are off") as caught:
            data.load_mnist()
        assert "\n" not in str(caught.value)
    finally:
        data.clear_cache()


def test_keras_cache_is_found_without_any_network(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert data.keras_cache_dir() is None
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").write_bytes(b"")
    assert data.keras_cache_dir() == tmp_path / "datasets"
