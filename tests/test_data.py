"""Tests for mnist_mlp.data: the real data's published facts, and one test per way a file can be bad.

Every corrupted input is built in tmp_path from the REAL MNIST bytes (so only the one defect under
test differs), and every failure must be a one-line DataError naming the file and the problem.
Offline and deterministic; the real decompressed bytes are read once per module.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mnist_mlp import data
from mnist_mlp.data import CANONICAL_NAMES, OFFICIAL_SHA256, Mnist, load_idx, load_mnist, resolve_data_dir, scale
from mnist_mlp.errors import DataError

if not os.environ.get("MNIST_DATA_DIR", "").strip():
    pytest.skip(
        "MNIST_DATA_DIR is not set: these tests need the real MNIST files (CI sets it)",
        allow_module_level=True,
    )

DATA_DIR = Path(os.environ["MNIST_DATA_DIR"]).expanduser()

TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = CANONICAL_NAMES

# Facts from the data directory's README.
FIRST_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
DECOMPRESSED_SIZES = {TRAIN_IMAGES: 47_040_016, TRAIN_LABELS: 60_008, TEST_IMAGES: 7_840_016, TEST_LABELS: 10_008}


# --------------------------------------------------------------------------- fixtures & helpers


@pytest.fixture(scope="module")
def raw() -> dict[str, bytes]:
    """The four real decompressed IDX streams, read once per module."""
    return {name: gzip.decompress((DATA_DIR / f"{name}.gz").read_bytes()) for name in CANONICAL_NAMES}


@pytest.fixture(scope="module")
def real() -> Mnist:
    return load_mnist(DATA_DIR)


def make_dir(root: Path, replace: dict[str, tuple[str, bytes]] | None = None, omit: tuple[str, ...] = ()) -> Path:
    """A data dir with copies of the real .gz files, except ``replace`` {canonical: (filename, bytes)}
    written instead and ``omit`` left out."""
    root.mkdir(parents=True, exist_ok=True)
    replace = replace or {}
    for name in CANONICAL_NAMES:
        if name in omit:
            continue
        if name in replace:
            filename, content = replace[name]
            (root / filename).write_bytes(content)
        else:
            shutil.copyfile(DATA_DIR / f"{name}.gz", root / f"{name}.gz")
    return root


def gz(content: bytes) -> bytes:
    return gzip.compress(content, compresslevel=1, mtime=0)


def with_header(original: bytes, fmt: str, *values: int) -> bytes:
    """``original`` with its IDX header fields (after the magic) replaced."""
    header = struct.pack(fmt, *values)
    return header + original[len(header):]


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def single_line(exc_info: pytest.ExceptionInfo) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- the real data


def test_official_sha256_matches_real_files(raw):
    for name, content in raw.items():
        assert len(content) == DECOMPRESSED_SIZES[name]
        assert hashlib.sha256(content).hexdigest() == OFFICIAL_SHA256[name]


def test_shapes_and_dtypes(real):
    assert real.x_train.shape == (60000, 28, 28) and real.x_train.dtype == np.uint8
    assert real.y_train.shape == (60000,) and real.y_train.dtype == np.uint8
    assert real.x_test.shape == (10000, 28, 28) and real.x_test.dtype == np.uint8
    assert real.y_test.shape == (10000,) and real.y_test.dtype == np.uint8
    assert real.source == os.path.abspath(DATA_DIR)


def test_first_labels_and_class_counts(real):
    assert real.y_train[:10].tolist() == FIRST_TRAIN_LABELS
    assert real.y_test[:10].tolist() == FIRST_TEST_LABELS
    assert np.bincount(real.y_train, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(real.y_test, minlength=10).tolist() == TEST_COUNTS


def test_scaled_mean_std_and_range(real):
    x = scale(real.x_train)
    assert x.dtype == np.float32
    assert x.shape == real.x_train.shape
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert abs(float(x.mean(dtype=np.float64)) - 0.1307) < 1e-4
    assert abs(float(x.std(dtype=np.float64)) - 0.3081) < 1e-4


def test_scale_is_x_over_255():
    x = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    out = scale(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x.astype(np.float32) / np.float32(255))
    assert x.tolist() == [[0, 1, 128, 255]]  # input untouched


def test_scale_gives_every_pixel_value_the_float32_division_and_leaves_a_read_only_input_alone():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    x.setflags(write=False)  # as the loader hands its arrays out
    out = scale(x)
    assert out.flags.writeable and not np.shares_memory(out, x)
    assert out.tobytes() == (x.astype(np.float32) / np.float32(255)).tobytes()  # bit for bit


def test_fingerprint_is_sha256_of_the_four_streams(real, raw):
    digest = hashlib.sha256()
    for name in CANONICAL_NAMES:
        digest.update(raw[name])
    assert real.sha256 == digest.hexdigest()


def test_arrays_are_read_only_and_dataset_is_frozen(real):
    with pytest.raises(ValueError):
        real.x_train[0, 0, 0] = 1
    with pytest.raises(AttributeError):
        real.source = "elsewhere"  # type: ignore[misc]


def test_load_is_memoised():
    first = load_mnist(DATA_DIR)
    assert load_mnist(str(DATA_DIR)) is first
    assert load_mnist(DATA_DIR, verify=False) is not first  # keyed on verify too


def test_uncompressed_copy_loads_the_same(tmp_path, raw, real):
    for name in CANONICAL_NAMES:
        write(tmp_path / name, raw[name])
    m = load_mnist(tmp_path)
    assert m.sha256 == real.sha256
    np.testing.assert_array_equal(m.x_test, real.x_test)


def test_dotted_names_load(tmp_path, raw, real):
    for name in CANONICAL_NAMES:
        dotted = name.replace("-idx", ".idx")
        if name == TEST_LABELS:  # one of them uncompressed, to mix both spellings' variants
            write(tmp_path / dotted, raw[name])
        else:
            shutil.copyfile(DATA_DIR / f"{name}.gz", tmp_path / f"{dotted}.gz")
    assert load_mnist(tmp_path).sha256 == real.sha256


def test_npz_round_trip_gives_same_sha256(tmp_path, real):
    np.savez(tmp_path / "mnist.npz", x_train=real.x_train, y_train=real.y_train, x_test=real.x_test, y_test=real.y_test)
    from_dir = load_mnist(tmp_path)
    assert from_dir.sha256 == real.sha256
    assert from_dir.source == str(tmp_path / "mnist.npz")
    np.testing.assert_array_equal(from_dir.y_train, real.y_train)
    from_file = load_mnist(tmp_path / "mnist.npz")  # a path that is itself the .npz
    assert from_file.sha256 == real.sha256


def test_module_does_not_import_keras():
    code = "import sys, mnist_mlp.data; sys.exit('keras' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == 0


# --------------------------------------------------------------------------- resolving the directory


def test_resolve_explicit_beats_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DATA_DIR", "/from/env")
    assert resolve_data_dir(tmp_path) == tmp_path
    assert resolve_data_dir(None) == Path("/from/env")


def test_resolve_unset_or_empty_env_is_none(monkeypatch):
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    assert resolve_data_dir(None) is None
    monkeypatch.setenv("MNIST_DATA_DIR", "")
    assert resolve_data_dir(None) is None


def test_load_uses_env_when_no_argument(monkeypatch, real):
    monkeypatch.setenv("MNIST_DATA_DIR", str(DATA_DIR))
    loaded = load_mnist()
    assert loaded.source == os.path.abspath(DATA_DIR)
    assert loaded.sha256 == real.sha256


# --------------------------------------------------------------------------- directory problems


def test_directory_missing(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match=rf"^{re.escape(str(missing))}: MNIST data directory does not exist") as info:
        load_mnist(missing)
    single_line(info)


def test_empty_directory_says_what_was_looked_for(tmp_path):
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path))}: no MNIST files here") as info:
        load_mnist(tmp_path)
    message = single_line(info)
    for name in (*CANONICAL_NAMES, "train-images.idx3-ubyte", "mnist.npz"):
        assert name in message


def test_one_file_missing_is_named(tmp_path):
    make_dir(tmp_path, omit=(TRAIN_LABELS,))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte is missing \(tried .*train-labels\.idx1-ubyte\.gz") as info:
        load_mnist(tmp_path)
    assert single_line(info).startswith(str(tmp_path))


# --------------------------------------------------------------------------- IDX structure


def test_labels_file_where_images_belong(tmp_path, raw):
    make_dir(tmp_path, replace={TEST_IMAGES: (f"{TEST_IMAGES}.gz", gz(raw[TEST_LABELS]))})
    bad = tmp_path / f"{TEST_IMAGES}.gz"
    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(bad))}: wrong magic number 0x00000801 \(expected 0x00000803, an IDX images file\)",
    ) as info:
        load_mnist(tmp_path)
    single_line(info)


def test_header_count_larger_than_data_is_truncated(tmp_path, raw):
    content = with_header(raw[TEST_IMAGES], ">II", 0x803, 10001)
    path = write(tmp_path / f"{TEST_IMAGES}.gz", gz(content))
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(path))}: truncated: header promises 7840784 bytes of data, file holds 7840000$"
    ):
        load_idx(path, kind="images", expected_sha256=None)


def test_header_count_smaller_than_data_is_trailing_bytes(tmp_path, raw):
    content = with_header(raw[TEST_LABELS], ">II", 0x801, 9999)
    path = write(tmp_path / TEST_LABELS, content)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: trailing bytes after the 9999 bytes the header describes"):
        load_idx(path, kind="labels", expected_sha256=None)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ((2**31 - 1, 28, 28), r"header declares 2147483647 images, expected between 1 and 60000"),
        ((2**32 - 1, 28, 28), r"header declares 4294967295 images"),
        ((10000, 100000, 28), r"images are 100000x28 pixels, expected 28x28"),
        ((0, 28, 28), r"header declares 0 images"),
    ],
)
def test_absurd_dimensions_refused_before_reading(tmp_path, raw, fields, problem):
    content = with_header(raw[TEST_IMAGES][:100_000], ">IIII", 0x803, *fields)
    path = write(tmp_path / f"{TEST_IMAGES}.gz", gz(content))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: {problem}") as info:
            load_idx(path, kind="images", expected_sha256=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "refused before reading" in single_line(info)
    assert peak < 5_000_000  # nothing sized by the absurd header was allocated


def test_image_label_count_mismatch_names_both_files(tmp_path, raw):
    short_labels = with_header(raw[TEST_LABELS][:-1], ">II", 0x801, 9999)  # structurally valid, one short
    make_dir(tmp_path, replace={TEST_LABELS: (f"{TEST_LABELS}.gz", gz(short_labels))})
    labels, images = tmp_path / f"{TEST_LABELS}.gz", tmp_path / f"{TEST_IMAGES}.gz"
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(labels))}: 9999 labels but {re.escape(str(images))} holds 10000 images$"
    ):
        load_mnist(tmp_path, verify=False)


def test_label_out_of_range(tmp_path, raw):
    content = bytearray(raw[TEST_LABELS])
    content[8 + 3] = 11
    make_dir(tmp_path, replace={TEST_LABELS: (f"{TEST_LABELS}.gz", gz(bytes(content)))})
    path = tmp_path / f"{TEST_LABELS}.gz"
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: label 11 at index 3 is outside 0-9"):
        load_mnist(tmp_path, verify=False)


# --------------------------------------------------------------------------- gzip problems


def test_truncated_gzip(tmp_path, raw):
    packed = gz(raw[TEST_IMAGES])
    path = write(tmp_path / f"{TEST_IMAGES}.gz", packed[: len(packed) // 2])
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: corrupt or truncated gzip \(") as info:
        load_idx(path, kind="images", expected_sha256=None)
    single_line(info)


def test_gzip_with_corrupted_crc(tmp_path, raw):
    packed = bytearray(gz(raw[TEST_LABELS]))
    packed[-8] ^= 0xFF  # first byte of the CRC-32 in the 8-byte trailer
    path = write(tmp_path / f"{TEST_LABELS}.gz", bytes(packed))
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: corrupt or truncated gzip \(.*CRC"):
        load_idx(path, kind="labels", expected_sha256=None)


def test_gzip_with_corrupted_length_trailer(tmp_path, raw):
    packed = bytearray(gz(raw[TEST_LABELS]))
    packed[-1] ^= 0xFF  # last byte of ISIZE
    path = write(tmp_path / f"{TEST_LABELS}.gz", bytes(packed))
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: corrupt or truncated gzip"):
        load_idx(path, kind="labels", expected_sha256=None)


def test_gzip_bomb_is_not_expanded(tmp_path, raw):
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as out:
        out.write(raw[TRAIN_LABELS])
        zeros = bytes(1 << 20)
        for _ in range(50):  # + 50 MB of zeros
            out.write(zeros)
    path = write(tmp_path / f"{TRAIN_LABELS}.gz", buffer.getvalue())
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: trailing bytes after the 60000 bytes"):
            load_idx(path, kind="labels", expected_sha256=OFFICIAL_SHA256[TRAIN_LABELS])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # the 50 MB were never materialised


# --------------------------------------------------------------------------- SHA-256


def test_one_pixel_changed_fails_sha_and_verify_false_accepts(tmp_path, raw, real):
    content = bytearray(raw[TEST_IMAGES])
    content[16 + 14 * 28 + 14] ^= 0x01
    make_dir(tmp_path, replace={TEST_IMAGES: (TEST_IMAGES, bytes(content))})
    path = tmp_path / TEST_IMAGES
    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(path))}: SHA-256 mismatch: got [0-9a-f]{{64}}, expected {OFFICIAL_SHA256[TEST_IMAGES]} "
        r"\(not the official MNIST file\)$",
    ):
        load_mnist(tmp_path)
    relaxed = load_mnist(tmp_path, verify=False)
    assert relaxed.sha256 != real.sha256
    assert relaxed.x_test[0, 14, 14] != real.x_test[0, 14, 14]
    assert relaxed.x_test.shape == (10000, 28, 28)


def test_load_idx_checks_expected_sha(tmp_path, raw):
    path = write(tmp_path / TEST_LABELS, raw[TEST_LABELS])
    labels = load_idx(path, kind="labels", expected_sha256=OFFICIAL_SHA256[TEST_LABELS])
    assert labels[:10].tolist() == FIRST_TEST_LABELS
    with pytest.raises(DataError, match=r"SHA-256 mismatch"):
        load_idx(path, kind="labels", expected_sha256="0" * 64)


# --------------------------------------------------------------------------- npz problems


def tiny(n: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    return {"x_train": x, "y_train": y, "x_test": x.copy(), "y_test": y.copy()}


def test_npz_with_pickled_object_array_refused(tmp_path):
    arrays = tiny()
    arrays["y_train"] = np.array([1, "two", None], dtype=object)
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: holds pickled objects, refused$"):
        load_mnist(tmp_path)


def test_npz_missing_key(tmp_path):
    arrays = tiny()
    del arrays["y_test"]
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: missing key y_test"):
        load_mnist(path)


def test_npz_wrong_dtype(tmp_path):
    arrays = tiny()
    arrays["x_train"] = arrays["x_train"].astype(np.float32)
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: x_train has dtype float32, expected uint8$"):
        load_mnist(path)


def test_npz_wrong_shape(tmp_path):
    arrays = tiny()
    arrays["x_test"] = arrays["x_test"].reshape(10, 784)
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: x_test has shape \(10, 784\), expected \(n, 28, 28\)$"):
        load_mnist(path)


def test_npz_label_out_of_range(tmp_path):
    arrays = tiny()
    arrays["y_test"][3] = 11
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: y_test: label 11 at index 3 is outside 0-9"):
        load_mnist(path, verify=False)


def test_npz_not_a_zip(tmp_path):
    path = write(tmp_path / "mnist.npz", b"this is not a zip archive")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: not a zip/.npz archive$"):
        load_mnist(tmp_path)


def test_npz_foreign_data_fails_sha(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, **tiny())
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: x_train: SHA-256 mismatch"):
        load_mnist(path)
    assert load_mnist(path, verify=False).x_train.shape == (10, 28, 28)
