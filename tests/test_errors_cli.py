"""Bad input through the ``mnist-mlp`` command: one line on stderr, no traceback, the right exit code.

The CLI runs in-process (``cli.main``) on the backend KERAS_BACKEND names. Run-level faults of
the benchmark harness (a backend not installed, a crashing or hanging case) are tested with it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mnist_mlp import atomic  # noqa: E402

from mnist_mlp.cli import main as cli
from mnist_mlp.data import CANONICAL_NAMES, Mnist  # noqa: E402
from mnist_mlp.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OUTPUT_FAILED  # noqa: E402
from mnist_mlp.model import build_model, save_model  # noqa: E402


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``mnist-mlp ARGV`` in-process: (exit code, stdout, stderr); argparse's exit becomes a code."""
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def one_error_line(err: str, prefix: str = "mnist-mlp: error: ") -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.endswith("\n"), f"expected one line on stderr, got:\n{err}"
    assert err.startswith(prefix), err
    return err[len(prefix) :].rstrip("\n")


@pytest.fixture(autouse=True)
def keep_environment():
    """``backends.select`` writes device variables into os.environ; undo that after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


# --------------------------------------------------------------------------- model files


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A good (untrained) seed model and every kind of bad model file, by name."""
    root = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    good = save_model(build_model(), root / "good.keras")
    files = {"good": good}

    def rewrite(name, edit=None, weights_from=None):
        path = root / f"{name}.keras"
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename == "config.json" and edit:
                    config = json.loads(data)
                    edit(config)
                    data = json.dumps(config).encode()
                if item.filename == "model.weights.h5" and weights_from:
                    with zipfile.ZipFile(weights_from) as other:
                        data = other.read("model.weights.h5")
                dst.writestr(item, data)
        files[name] = path

    (root / "not-a-zip.keras").write_text("a model, honest\n")
    files["not-a-zip"] = root / "not-a-zip.keras"
    whole = good.read_bytes()
    (root / "truncated.keras").write_bytes(whole[: len(whole) // 2])
    files["truncated"] = root / "truncated.keras"

    def add_lambda(config):
        config["config"]["layers"].insert(
            2, {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "evil", "function": "os.system"}}
        )

    rewrite("lambda", add_lambda)
    rewrite("input-shape", lambda c: c["config"]["layers"][0]["config"].update(batch_shape=[None, 32, 32]))
    rewrite("output-shape", lambda c: c["config"]["layers"][-1]["config"].update(units=11))

    # weights of an 11-class model under the seed's config: only Keras itself can see this
    wide = keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
         keras.layers.Dense(32, activation="relu"), keras.layers.Dense(11, activation="softmax")]
    )
    wide.save(root / "wide.keras")
    rewrite("weights-shape", weights_from=root / "wide.keras")

    for name, value in (("nan-weights", np.nan), ("inf-weights", np.inf)):
        model = build_model()
        weights = model.get_weights()
        weights[4][3, 7] = value  # one entry of the last layer's kernel
        model.set_weights(weights)
        files[name] = save_model(model, root / f"{name}.keras")
    return files


MODEL_PROBLEMS = {
    "not-a-zip": r"not a \.keras model \(not a zip archive, or truncated\)",
    "truncated": r"not a \.keras model \(not a zip archive, or truncated\)",
    "lambda": r"layer 2 is Lambda, outside the seed's architecture \(Input, Flatten, Dense, Dense, Dense\)",
    "input-shape": r"input shape \[None, 32, 32\] is not \(None, 28, 28\)",
    "output-shape": r"layer 4 is Dense 11 softmax, expected Dense 10 softmax",
    "weights-shape": r"cannot load model \(.*variable\.shape=\(32, 10\), Received: value\.shape=\(32, 11\)",
    "nan-weights": r"weight dense\w*/kernel holds NaN or infinite values",
    "inf-weights": r"weight dense\w*/kernel holds NaN or infinite values",
    "missing": r"model file not found",
}


def command(name: str, model: Path, tmp_path: Path) -> list:
    if name == "predict":
        array = tmp_path / "zeros.npy"
        np.save(array, np.zeros((28, 28), np.uint8))
        return ["predict", "--model", model, "--array", array]
    return [name, "--model", model]


@pytest.mark.parametrize("problem", list(MODEL_PROBLEMS))
@pytest.mark.parametrize("name", ["evaluate", "predict", "verify"])
def test_bad_model_file(models, problem, name, tmp_path, capsys):
    path = models.get(problem, tmp_path / "missing.keras")
    rc, out, err = run(capsys, *command(name, path, tmp_path))
    assert rc == EXIT_BAD_INPUT
    assert out == ""
    message = one_error_line(err)
    assert re.fullmatch(rf"{re.escape(str(path))}: {MODEL_PROBLEMS[problem]}.*", message), message
    assert len(message) < 400


def test_lambda_refused_without_keras_ever_deserialising(models, monkeypatch, tmp_path, capsys):
    """The Lambda never reaches Keras: neither load_model nor the unsafe-mode switch is called."""
    def never(*args, **kwargs):
        raise AssertionError("keras was asked to deserialise a refused model")

    monkeypatch.setattr(keras.saving, "load_model", never)
    monkeypatch.setattr(keras.config, "enable_unsafe_deserialization", never)
    rc, _, err = run(capsys, "evaluate", "--model", models["lambda"])
    assert rc == EXIT_BAD_INPUT
    assert "Lambda, outside the seed's architecture" in one_error_line(err)


def test_good_untrained_model_loads_without_warnings_on_stderr(models, tmp_path, capsys):
    """A model saved before training has no optimizer state: Keras' warning about it stays quiet."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc, out, err = run(capsys, *command("predict", models["good"], tmp_path))
    assert rc == 0, err
    assert err == ""
    assert not [w for w in caught if issubclass(w.category, UserWarning) and "optimizer" in str(w.message)]
    assert out.startswith(f"{tmp_path / 'zeros.npy'}: ")


# --------------------------------------------------------------------------- data directory


def test_data_dir_missing(models, tmp_path, capsys):
    missing = tmp_path / "no-such-dir"
    rc, out, err = run(capsys, "evaluate", "--model", models["good"], "--data-dir", missing)
    assert rc == EXIT_BAD_INPUT and out == ""
    assert one_error_line(err) == f"{missing}: MNIST data directory does not exist"


def test_data_dir_missing_one_file(models, data_dir, tmp_path, capsys):
    for name in CANONICAL_NAMES:
        if name != "t10k-labels-idx1-ubyte":
            (tmp_path / f"{name}.gz").symlink_to(data_dir / f"{name}.gz")
    rc, out, err = run(capsys, "evaluate", "--model", models["good"], "--data-dir", tmp_path)
    assert rc == EXIT_BAD_INPUT and out == ""
    message = one_error_line(err)
    assert message.startswith(f"{tmp_path}")
    assert "t10k-labels-idx1-ubyte is missing" in message


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["train", "--backend", "mxnet"], r"argument --backend: invalid choice: 'mxnet' \(choose from 'tensorflow', 'jax', 'torch'\)"),
        (["train", "--device", "tpu"], r"argument --device: invalid choice: 'tpu' \(choose from 'cpu', 'gpu'\)"),
        (["train", "--epochs", "0"], r"argument --epochs: must be at least 1, got 0"),
        (["train", "--epochs", "-2"], r"argument --epochs: must be at least 1, got -2"),
        (["train", "--epochs", "2.5"], r"argument --epochs: expected a whole number, got '2\.5'"),
        (["train", "--batch-size", "0"], r"argument --batch-size: must be at least 1, got 0"),
        (["train", "--steps-per-execution", "0"], r"argument --steps-per-execution: must be at least 1, got 0"),
        (["train", "--validation-split", "0"], r"argument --validation-split: must be strictly between 0 and 1, got 0"),
        (["train", "--validation-split", "1"], r"argument --validation-split: must be strictly between 0 and 1, got 1"),
        (["train", "--validation-split", "nan"], r"argument --validation-split: must be strictly between 0 and 1, got nan"),
        (["train", "--jit-compile", "maybe"], r"argument --jit-compile: must be auto, true or false, got 'maybe'"),
        (["verify", "--model", "m.keras", "--tolerance=-1e-5"], r"argument --tolerance: must be a finite number of at least 0, got -1e-5"),
        (["verify", "--model", "m.keras", "--tolerance", "nan"], r"argument --tolerance: must be a finite number of at least 0, got nan"),
        (["verify", "--model", "m.keras", "--tolerance", "inf"], r"argument --tolerance: must be a finite number of at least 0, got inf"),
        (["verify", "--model", "m.keras", "--tolerance", "tiny"], r"argument --tolerance: expected a number, got 'tiny'"),
        (["evaluate"], r"the following arguments are required: --model"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_bad_argument_is_one_line_exit_2(argv, problem, capsys):
    rc, out, err = run(capsys, *argv)
    assert rc == EXIT_BAD_INPUT and out == ""
    message = one_error_line(err, prefix=f"mnist-mlp {argv[0]}: error: ")
    assert re.fullmatch(rf"{problem} \(see mnist-mlp {argv[0]} --help\)", message), message


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--seed", "-1"], "--seed: must be a whole number of at least 0, got -1"),
        (["train", "--learning-rate", "0"], "--learning-rate: must be a positive number, got 0.0"),
        (["train", "--learning-rate", "nan"], "--learning-rate: must be a positive number, got nan"),
    ],
)
def test_bad_training_setting_refused_before_anything_runs(argv, message, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "load_data", lambda args: pytest.fail("data loaded despite a bad setting"))
    rc, out, err = run(capsys, *argv, "--out", tmp_path / "out")
    assert rc == EXIT_BAD_INPUT and out == ""
    assert one_error_line(err) == message
    assert not (tmp_path / "out").exists()


def test_unknown_backend_from_the_environment(monkeypatch, models, capsys):
    monkeypatch.setenv("KERAS_BACKEND", "mxnet")
    rc, _, err = run(capsys, "evaluate", "--model", models["good"])
    assert rc == EXIT_BAD_INPUT
    assert one_error_line(err) == "--backend: unknown backend 'mxnet' (choose from tensorflow, jax, torch)"


def test_gpu_asked_for_where_the_backend_has_none(models, capsys):
    from mnist_mlp.backends import active_device_name

    backend = keras.backend.backend()
    if not active_device_name(backend).startswith("cpu"):
        pytest.skip("this process computes on a GPU")
    rc, _, err = run(capsys, "evaluate", "--model", models["good"], "--device", "gpu")
    assert rc == EXIT_BAD_INPUT
    from mnist_mlp.backends import get

    # the backend's own class says why (here: a CPU-only jaxlib), so the user knows what to install
    assert one_error_line(err) == f"--device gpu: {get(backend).gpu_absent_reason()}"


@pytest.mark.parametrize("index", [10_000, -1])
def test_predict_index_outside_the_test_set(models, index, data_dir, capsys):
    rc, out, err = run(capsys, "predict", "--model", models["good"], "--index", index, "--data-dir", data_dir)
    assert rc == EXIT_BAD_INPUT and out == ""
    assert one_error_line(err) == f"--index: {index} is outside the test set (0 to 9999)"


def test_predict_without_any_input(models, capsys):
    rc, _, err = run(capsys, "predict", "--model", models["good"])
    assert rc == EXIT_BAD_INPUT
    assert one_error_line(err) == "predict: give at least one of --index, --image or --array"


# --------------------------------------------------------------------------- output faults


@pytest.fixture
def small_data(mnist, monkeypatch):
    """The CLI's data replaced by a 2,000-image slice of the real MNIST: training takes a second."""
    subset = Mnist(mnist.x_train[:2000], mnist.y_train[:2000], mnist.x_test[:500], mnist.y_test[:500],
                   source="test slice", sha256=mnist.sha256)
    monkeypatch.setattr(cli, "load_data", lambda args: subset)
    return subset


@pytest.fixture
def no_training(monkeypatch):
    """Fail if the CLI gets as far as loading data (training comes after)."""
    monkeypatch.setattr(cli, "load_data", lambda args: pytest.fail("started work although the output is unwritable"))


def test_out_is_an_existing_file(tmp_path, no_training, capsys):
    out = tmp_path / "results.txt"
    out.write_text("precious\n")
    rc, stdout, err = run(capsys, "train", "--epochs", "1", "--out", out)
    assert rc == EXIT_OUTPUT_FAILED and stdout == ""
    assert one_error_line(err) == f"{out}: output directory is an existing file, not a directory"
    assert out.read_text() == "precious\n"


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_out_directory_not_writable_detected_before_training(tmp_path, where, no_training, capsys):
    # tests may run as root, where chmod stops nothing: a path below a regular file cannot exist
    if where == "under-a-file":
        (tmp_path / "afile").write_text("")
        out = tmp_path / "afile" / "run"
    else:
        out = Path("/proc/version/run")
    rc, stdout, err = run(capsys, "train", "--epochs", "1", "--out", out)
    assert rc == EXIT_OUTPUT_FAILED and stdout == ""
    assert one_error_line(err) == f"{out}: cannot write output directory (Not a directory)"


def test_disk_full_while_saving_keeps_the_previous_model(tmp_path, small_data, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.keras").write_bytes(b"the previous model")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    rc, stdout, err = run(capsys, "train", "--epochs", "1", "--batch-size", "256", "--out", out)
    assert rc == EXIT_OUTPUT_FAILED and stdout == ""
    assert one_error_line(err) == f"{out / 'model.keras'}: cannot write (No space left on device)"
    assert (out / "model.keras").read_bytes() == b"the previous model"
    assert sorted(p.name for p in out.iterdir()) == ["model.keras"]  # no temporary file left behind


def test_train_writes_everything_when_all_is_well(tmp_path, small_data, capsys):
    """The positive control for the fault tests above: same command, nothing broken."""
    out = tmp_path / "out"
    rc, stdout, err = run(capsys, "train", "--epochs", "1", "--batch-size", "256", "--out", out, "--json")
    assert rc == 0, err
    assert json.loads(stdout)["out"] == str(out)
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "history.json", "model.keras"]


# --------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_in_a_command_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_train", interrupted)
    rc, out, err = run(capsys, "train", "--epochs", "1")
    assert rc == EXIT_INTERRUPTED == 130
    assert out == ""
    assert err == "mnist-mlp: interrupted\n"


def test_ctrl_c_during_training_leaves_no_partial_output(tmp_path, small_data, monkeypatch, capsys):
    import mnist_mlp.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_mlp.train, "train", interrupted)
    out = tmp_path / "out"
    rc, _, err = run(capsys, "train", "--epochs", "1", "--out", out)
    assert rc == EXIT_INTERRUPTED
    assert err == "mnist-mlp: interrupted\n"
    assert list(out.iterdir()) == []  # the directory was checked, nothing half-written in it
