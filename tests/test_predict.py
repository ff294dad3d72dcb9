"""Prediction inputs: every unusable image or array refused in one line; odd formats converted.

Image files are checked before decoding (size from the header), arrays before the model sees
them. The end-to-end tests train a quick model in-process (KERAS_BACKEND, 1 epoch on 10k images)
and predict real MNIST test digits saved as PNG and JPEG, both white-on-black and dark-on-white.
"""

from __future__ import annotations

import json
import re
import struct
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from mnist_mlp.errors import EXIT_BAD_INPUT, InputError
from mnist_mlp.predict import MAX_IMAGE_PIXELS, as_batch, load_array_file, load_image


def stroke() -> np.ndarray:
    """A white, digit-like stroke on black (a '7'), 28x28 uint8."""
    pixels = np.zeros((28, 28), np.uint8)
    pixels[5:8, 6:22] = 255  # the bar
    for row in range(8, 24):  # the diagonal
        col = 21 - (row - 8) // 2
        pixels[row, col - 1 : col + 2] = 255
    return pixels


def refused(call, *args, match: str) -> str:
    """Run ``call``; it must raise InputError whose single-line message matches ``match``."""
    with pytest.raises(InputError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message
    assert re.search(match, message), message
    assert info.value.exit_code == EXIT_BAD_INPUT
    return message


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` gray pixels, with a token of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- files that are not images


def test_not_an_image(tmp_path):
    path = tmp_path / "digit.png"
    path.write_text("this is a text file, not a picture\n")
    refused(load_image, path, match=rf"^{re.escape(str(path))}: not an image Pillow can read$")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    refused(load_image, path, match=rf"^{re.escape(str(path))}: empty file \(0 bytes\), not an image$")


def test_directory(tmp_path):
    refused(load_image, tmp_path, match=rf"^{re.escape(str(tmp_path))}: is a directory, not an image file$")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    refused(load_image, path, match=rf"^{re.escape(str(path))}: image file not found$")


def test_truncated_png(tmp_path):
    whole = tmp_path / "whole.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(whole)
    data = whole.read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    refused(load_image, path, match=rf"^{re.escape(str(path))}: damaged or truncated image \(.*truncated")


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if Pillow is asked to decode pixels; count peak Python memory meanwhile."""
    from PIL import ImageFile

    def forbidden(self, *args, **kwargs):
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)
    monkeypatch.setattr(Image.Image, "load", forbidden)
    tracemalloc.start()
    yield
    tracemalloc.stop()


@pytest.mark.parametrize(
    "width, height, problem",
    [
        # just over our limit (12 MP), below Pillow's own warning threshold
        (4000, 3000, r"image is 4000x3000 pixels, over the 10,000,000 pixel limit$"),
        # 120 MP: Pillow itself would warn (DecompressionBombWarning); we refuse quietly
        (12000, 10000, r"image is 12000x10000 pixels, over the 10,000,000 pixel limit$"),
        # 2.5 GP: Pillow itself refuses while reading the header; still our message
        (50000, 50000, r"image dimensions are far over the 10,000,000 pixel limit \(refused before decoding\)$"),
    ],
)
def test_huge_dimensions_refused_before_decoding(tmp_path, no_decoding, width, height, problem):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(width, height))
    assert path.stat().st_size < 200  # a tiny file claiming a huge picture
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning (or any other) leaks out
        refused(load_image, path, match=rf"^{re.escape(str(path))}: {problem}")
    _, peak = tracemalloc.get_traced_memory()
    assert peak < 2_000_000, f"refusal allocated {peak:,} bytes; decoding would need {width * height:,}"


def test_exactly_at_the_limit_is_accepted(tmp_path):
    assert MAX_IMAGE_PIXELS == 10_000_000
    path = tmp_path / "big.png"
    Image.new("L", (4000, 2500), 0).save(path)  # 10,000,000 pixels, compresses to a few kB
    assert load_image(path).shape == (28, 28)


# --------------------------------------------------------------------------- arrays


@pytest.mark.parametrize(
    "array, problem",
    [
        (np.zeros((28, 27), np.uint8), r"shape \(28, 27\) is not \(28, 28\) or \(n, 28, 28\)"),
        (np.zeros(784, np.uint8), r"shape \(784,\) is not \(28, 28\)"),
        (np.zeros((2, 1, 28, 28), np.uint8), r"shape \(2, 1, 28, 28\) is not"),
        (np.zeros((0, 28, 28), np.uint8), r"shape \(0, 28, 28\) is not"),
        (np.zeros((28, 28), np.complex64), r"dtype complex64 is not a numeric image type"),
        (np.zeros((28, 28), bool), r"dtype bool is not a numeric image type"),
        (np.full((28, 28), "x"), r"dtype <U1 is not a numeric image type"),
        (np.full((28, 28), None, dtype=object), r"dtype object is not a numeric image type"),
        (np.where(np.eye(28, dtype=bool), np.nan, 0.5).astype(np.float32), r"holds NaN or infinite values"),
        (np.where(np.eye(28, dtype=bool), np.inf, 0.5), r"holds NaN or infinite values"),
        (stroke().astype(np.float32), r"float values must lie in \[0, 1\], found 0 to 255"),
        (np.full((28, 28), -0.5), r"float values must lie in \[0, 1\], found -0.5 to -0.5"),
        (np.full((28, 28), 256, np.int32), r"integer values must lie in 0-255, found 256 to 256"),
        (np.full((28, 28), -1, np.int16), r"integer values must lie in 0-255, found -1 to -1"),
    ],
    ids=["cols", "rank1", "rank4", "empty", "complex", "bool", "str", "object", "nan", "inf",
         "float-0-255", "float-neg", "int-256", "int-neg"],
)
def test_bad_arrays(array, problem):
    refused(as_batch, array, "my.npy", match=rf"^my\.npy: {problem}")


@pytest.mark.parametrize("array", [stroke(), stroke() / 255.0, stroke()[np.newaxis].astype(np.int64)])
def test_good_arrays_become_float_batches(array):
    batch = as_batch(array)
    assert batch.shape == (1, 28, 28) and batch.dtype == np.float32
    assert batch.min() == 0.0 and batch.max() == 1.0


def test_npy_with_pickled_objects_refused(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    refused(load_array_file, path, match=rf"^{re.escape(str(path))}: not a plain \.npy array \(.*allow_pickle")


def test_truncated_npy_refused(tmp_path):
    whole = tmp_path / "whole.npy"
    np.save(whole, stroke())
    path = tmp_path / "cut.npy"
    path.write_bytes(whole.read_bytes()[:200])
    refused(load_array_file, path, match=rf"^{re.escape(str(path))}: ")


def test_npz_given_as_array_refused(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, a=stroke())
    refused(load_array_file, path, match=rf"^{re.escape(str(path))}: expected a \.npy array, found an archive$")


# --------------------------------------------------------------------------- formats converted


def save(pixels_or_image, path, **kwargs):
    image = pixels_or_image if isinstance(pixels_or_image, Image.Image) else Image.fromarray(pixels_or_image)
    image.save(path, **kwargs)
    return path


def rgba(gray: np.ndarray, alpha: np.ndarray) -> Image.Image:
    return Image.fromarray(np.dstack([gray, gray, gray, alpha]).astype(np.uint8), mode="RGBA")


def palette(pixels: np.ndarray) -> Image.Image:
    image = Image.fromarray(pixels).convert("P")  # 256-entry gray palette
    assert image.mode == "P"
    return image


def sixteen_bit(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray((pixels.astype(np.uint16) * 257))  # 255 -> 65535


CONVERSIONS = {
    "gray-white-on-black": lambda s: Image.fromarray(s),
    "gray-dark-on-white": lambda s: Image.fromarray(255 - s),
    "rgb-dark-on-white": lambda s: Image.fromarray(255 - s).convert("RGB"),
    "rgba-opaque-white-on-black": lambda s: rgba(s, np.full_like(s, 255)),
    "rgba-dark-stroke-on-transparent": lambda s: rgba(np.zeros_like(s), s),
    "rgba-white-stroke-on-transparent": lambda s: rgba(np.full_like(s, 255), s),
    "la-dark-stroke-on-transparent": lambda s: Image.fromarray(np.dstack([np.zeros_like(s), s]), mode="LA"),
    "palette-white-on-black": palette,
    "palette-dark-on-white": lambda s: palette(255 - s),
    "palette-transparent-background": lambda s: _palette_with_transparency(s),
    "16bit-white-on-black": sixteen_bit,
    "16bit-dark-on-white": lambda s: sixteen_bit(255 - s),
    "1bit-dark-on-white": lambda s: Image.fromarray(255 - s).convert("1"),
}


def _palette_with_transparency(s: np.ndarray) -> Image.Image:
    """Palette index 0 transparent (the background), index 1 black ink."""
    image = Image.fromarray((s > 0).astype(np.uint8), mode="P")
    image.putpalette([200, 50, 50, 0, 0, 0] + [0] * (254 * 3))  # background colour is irrelevant
    image.info["transparency"] = 0
    return image


@pytest.mark.parametrize("kind", list(CONVERSIONS))
def test_formats_convert_to_white_digit_on_black(tmp_path, kind):
    image = CONVERSIONS[kind](stroke())
    path = save(image, tmp_path / f"{kind}.png")
    if kind.startswith("16bit"):
        assert Image.open(path).mode.startswith("I"), "the fixture must really be a 16-bit PNG"
    if kind.startswith("palette"):
        assert Image.open(path).mode == "P"
    pixels = load_image(path)
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, stroke(), err_msg=kind)


def test_large_dark_on_white_jpeg(tmp_path):
    """A 280x280 photo-like JPEG, dark ink on white: resized, inverted, close to the stroke."""
    big = Image.fromarray(255 - stroke()).resize((280, 280), Image.Resampling.NEAREST).convert("RGB")
    path = save(big, tmp_path / "digit.jpg", quality=90)
    assert Image.open(path).format == "JPEG"
    pixels = load_image(path).astype(int)
    ink = stroke() > 0
    assert pixels[ink].mean() > 200 and pixels[~ink].mean() < 30
    assert np.abs(pixels - stroke()).mean() < 20


# --------------------------------------------------------------------------- end to end, real digits


@pytest.fixture(scope="module")
def trained(mnist, tmp_path_factory):
    keras = pytest.importorskip("keras")
    from mnist_mlp.data import scale
    from mnist_mlp.model import build_model, save_model

    keras.utils.set_random_seed(0)
    model = build_model()
    model.fit(scale(mnist.x_train[:10_000]), mnist.y_train[:10_000], epochs=1, batch_size=32, verbose=0)
    return model, save_model(model, tmp_path_factory.mktemp("trained") / "model.keras")


@pytest.fixture(scope="module")
def confident_digits(trained, mnist):
    """One test image per digit 0-9 that the model gets right with at least 90% confidence."""
    from mnist_mlp.data import scale

    model, _ = trained
    probs = model.predict(scale(mnist.x_test[:2000]), verbose=0)
    chosen = {}
    for index, row in enumerate(probs):
        label = int(mnist.y_test[index])
        if label not in chosen and row.argmax() == label and row.max() >= 0.9:
            chosen[label] = index
    assert len(chosen) == 10, f"model too weak for the end-to-end test: {sorted(chosen)}"
    return [chosen[digit] for digit in range(10)]


def test_mnist_digits_from_png_and_jpeg_predicted_by_the_cli(trained, mnist, confident_digits, tmp_path, capsys):
    from mnist_mlp.cli import main as cli
    _, model_path = trained
    args, expected = [], []
    for index in confident_digits:
        pixels = np.asarray(mnist.x_test[index])
        label = int(mnist.y_test[index])
        as_is = save(pixels, tmp_path / f"{index}-white-on-black.png")
        inverted = save(255 - pixels, tmp_path / f"{index}-dark-on-white.png")
        # both PNGs come back as the exact MNIST pixels
        np.testing.assert_array_equal(load_image(as_is), pixels)
        np.testing.assert_array_equal(load_image(inverted), pixels)
        photo = save(
            Image.fromarray(255 - pixels).resize((112, 112), Image.Resampling.BICUBIC).convert("RGB"),
            tmp_path / f"{index}-dark-on-white.jpg",
            quality=95,
        )
        for path in (as_is, inverted, photo):
            args += ["--image", str(path)]
            expected.append((str(path), label))
    assert cli.main(["predict", "--model", str(model_path), "--json", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    got = [(p["source"], p["digit"]) for p in out["predictions"]]
    assert got == expected
    for p in out["predictions"]:
        assert len(p["probabilities"]) == 10 and abs(sum(p["probabilities"]) - 1) < 1e-4


def test_bad_image_through_the_cli_is_one_line(tmp_path, capsys):
    """The CLI turns the InputError into one line and exit 2, before any model is loaded."""
    from mnist_mlp.cli import main as cli
    path = tmp_path / "photo.png"
    path.write_bytes(png_header_only(50000, 50000))
    rc = cli.main(["predict", "--model", str(tmp_path / "never-read.keras"), "--image", str(path)])
    err = capsys.readouterr().err
    assert rc == EXIT_BAD_INPUT
    assert err == f"mnist-mlp: error: {path}: image dimensions are far over the 10,000,000 pixel limit (refused before decoding)\n"


def test_bad_array_through_the_cli_is_one_line(tmp_path, capsys):
    from mnist_mlp.cli import main as cli
    path = tmp_path / "floats.npy"
    np.save(path, np.full((3, 28, 28), np.nan, np.float32))
    rc = cli.main(["predict", "--model", str(tmp_path / "never-read.keras"), "--array", str(path)])
    assert rc == EXIT_BAD_INPUT
    assert capsys.readouterr().err == f"mnist-mlp: error: {path}: holds NaN or infinite values\n"
