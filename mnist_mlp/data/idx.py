"""The IDX format MNIST ships in: names, headers, strict parsing and the official SHA-256.

Every way a file can be bad (magic, dimensions, truncation, trailing bytes, corrupt gzip,
labels outside 0-9, another file's checksum) is a ``DataError`` of one line naming the file,
never a numpy traceback or a silent wrong result.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from mnist_mlp.errors import DataError

ENV_VAR = "MNIST_DATA_DIR"
"""Environment variable naming the directory (or .npz file) that holds MNIST."""

OFFLINE_ENV = "MNIST_MLP_OFFLINE"
"""Set (to anything but empty or 0) to refuse the Keras download: Keras' cache is still read.
The tests set it, so that no test can reach the network."""

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

CANONICAL_NAMES: tuple[str, ...] = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
"""The four files, in the order their bytes enter the dataset fingerprint."""

OFFICIAL_SHA256: dict[str, str] = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""Published SHA-256 of each *decompressed* IDX file (gzip wrappers differ between mirrors)."""

NPZ_NAME = "mnist.npz"
NPZ_KEYS: tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")
# Which canonical IDX file each npz array corresponds to, to verify npz data identically.
_NPZ_TO_IDX = {"x_train": TRAIN_IMAGES, "y_train": TRAIN_LABELS, "x_test": TEST_IMAGES, "y_test": TEST_LABELS}

IMAGES_MAGIC = 0x00000803  # unsigned byte data, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte data, 1 dimension
ROWS = COLS = 28
MAX_ITEMS = 60000  # the larger MNIST split; anything beyond is refused before allocating
NUM_CLASSES = 10

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # what np.load itself takes as an .npz

# Structural parse order: cheapest first, so a broken small file is reported without first
# decompressing 47 MB of training images. (Errors are still deterministic.)
_PARSE_ORDER = (TEST_LABELS, TRAIN_LABELS, TEST_IMAGES, TRAIN_IMAGES)

Kind = Literal["images", "labels"]

# --------------------------------------------------------------------------- helpers


def _one_line(exc: BaseException) -> str:
    """Exception text squeezed onto one line, so every DataError message stays a single line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _candidate_names(canonical: str) -> tuple[str, ...]:
    """File names accepted for one canonical IDX file, in order of preference.

    Mirrors ship both the original ``train-images-idx3-ubyte`` and the dotted
    ``train-images.idx3-ubyte`` spelling, gzipped or not.
    """
    dotted = canonical.replace("-idx", ".idx")
    return (canonical + ".gz", canonical, dotted + ".gz", dotted)


def _kind_of(canonical: str) -> Kind:
    return "images" if "images" in canonical else "labels"


def _idx_header(kind: Kind, shape: tuple[int, ...]) -> bytes:
    """The big-endian IDX header that an array of this kind and shape would be stored under."""
    magic = IMAGES_MAGIC if kind == "images" else LABELS_MAGIC
    return struct.pack(">I", magic) + struct.pack(">" + "I" * len(shape), *shape)


def _freeze(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _check_labels(where: str, labels: np.ndarray) -> None:
    """Refuse labels outside 0-9, naming the first offender (a foreign or damaged file)."""
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        index = int(bad[0])
        raise DataError(
            f"{where}: label {int(labels[index])} at index {index} is outside 0-{NUM_CLASSES - 1}"
            f" ({bad.size} such labels)"
        )


def _check_count(where: str, count: int, what: str) -> None:
    if count <= 0 or count > MAX_ITEMS:
        raise DataError(
            f"{where}: header declares {count} {what}, expected between 1 and {MAX_ITEMS};"
            " refused before reading the data"
        )


def _read_upto(stream: BinaryIO, size: int) -> tuple[bytearray, int]:
    """Read at most ``size`` bytes into one preallocated buffer; return it and the count read.

    A short count means end of file. The buffer is allocated once (no concatenation) and the
    caller bounds ``size`` from a validated header, so nothing here can balloon.
    """
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            break
        got += n
    view.release()
    return buffer, got


def _parse_idx_stream(path: Path, stream: BinaryIO, kind: Kind) -> tuple[bytes, np.ndarray]:
    """Parse one decompressed IDX stream; return (header bytes, read-only array)."""
    expected_magic, ndim = (IMAGES_MAGIC, 3) if kind == "images" else (LABELS_MAGIC, 1)
    header_len = 4 + 4 * ndim

    head, got = _read_upto(stream, 4)
    if got < 4:
        raise DataError(f"{path}: truncated: only {got} bytes, too short for an IDX header")
    (magic,) = struct.unpack(">I", head)
    if magic != expected_magic:
        hint = ""
        if magic == (LABELS_MAGIC if kind == "images" else IMAGES_MAGIC):
            hint = f"; it looks like an IDX {'labels' if kind == 'images' else 'images'} file"
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x} (expected 0x{expected_magic:08x},"
            f" an IDX {kind} file){hint}"
        )

    dims_buf, got = _read_upto(stream, 4 * ndim)
    if got < 4 * ndim:
        raise DataError(
            f"{path}: truncated: only {4 + got} bytes, the IDX header needs {header_len}"
        )
    dims = struct.unpack(">" + "I" * ndim, dims_buf)
    count = dims[0]
    # Every dimension is checked before a single body byte is read or allocated, so a header
    # claiming 2**31 images costs nothing.
    if kind == "images":
        rows, cols = dims[1], dims[2]
        if (rows, cols) != (ROWS, COLS):
            raise DataError(
                f"{path}: images are {rows}x{cols} pixels, expected {ROWS}x{COLS};"
                " refused before reading the data"
            )
    _check_count(str(path), count, kind)

    expected = count * ROWS * COLS if kind == "images" else count
    # One byte more than promised: reading it proves trailing data without reading the rest
    # (a gzip bomb is never expanded past expected+1), and hitting EOF makes gzip check its CRC.
    body, got = _read_upto(stream, expected + 1)
    if got < expected:
        raise DataError(
            f"{path}: truncated: header promises {expected} bytes of data, file holds {got}"
        )
    if got > expected:
        raise DataError(f"{path}: trailing bytes after the {expected} bytes the header describes")

    array = np.frombuffer(body, dtype=np.uint8, count=expected)
    array = array.reshape((count, ROWS, COLS) if kind == "images" else (count,))
    if kind == "labels":
        _check_labels(str(path), array)
    header = struct.pack(">I", magic) + bytes(dims_buf)
    return header, _freeze(array)


def _read_idx(path: Path, kind: Kind) -> tuple[bytes, np.ndarray]:
    """Open ``path`` (gzip detected by content, not by name) and parse it structurally."""
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or _one_line(exc)})") from None
    with raw:
        try:
            is_gzip = raw.peek(2)[:2] == _GZIP_MAGIC
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or _one_line(exc)})") from None
        try:
            if is_gzip:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return _parse_idx_stream(path, stream, kind)
            return _parse_idx_stream(path, raw, kind)
        except (EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
            if is_gzip:
                raise DataError(f"{path}: corrupt or truncated gzip ({_one_line(exc)})") from None
            raise DataError(f"{path}: cannot read ({_one_line(exc)})") from None


def _idx_sha256(header: bytes, array: np.ndarray) -> str:
    digest = hashlib.sha256(header)
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _check_sha(where: str, header: bytes, array: np.ndarray, expected: str, what: str) -> None:
    actual = _idx_sha256(header, array)
    if actual != expected:
        raise DataError(
            f"{where}: SHA-256 mismatch: got {actual}, expected {expected} ({what})"
        )


def _fingerprint(parts: list[tuple[bytes, np.ndarray]]) -> str:
    """SHA-256 over the canonical IDX streams in canonical order (incremental, no concatenation)."""
    digest = hashlib.sha256()
    for header, array in parts:
        digest.update(header)
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()



def load_idx(path: str | os.PathLike, *, kind: Kind, expected_sha256: str | None = None) -> np.ndarray:
    """Read and check one IDX file (gzipped or raw); return its read-only uint8 array.

    Images come back as (n, 28, 28), labels as (n,). Every structural problem (magic, dimensions,
    truncation, trailing bytes, corrupt gzip, labels outside 0-9) and, when ``expected_sha256`` is
    given, a SHA-256 mismatch of the decompressed stream raise ``DataError`` naming the file.
    """
    if kind not in ("images", "labels"):
        raise ValueError(f"kind must be 'images' or 'labels', not {kind!r}")
    path = Path(path)
    header, array = _read_idx(path, kind)
    if expected_sha256 is not None:
        _check_sha(str(path), header, array, expected_sha256, "not the official MNIST file")
    return array
