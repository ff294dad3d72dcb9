"""Load MNIST and prove it is the official data before any benchmark number is built on it.

Every benchmark compares accuracy and speed across Keras backends, so the one thing that must
never vary is the data. This module therefore reads the original IDX files (gzipped or not,
under the original or the dotted names) or a Keras-style ``mnist.npz``, checks their structure
strictly (a damaged or foreign file is reported in one line naming the file, never as a numpy
traceback or a silent wrong result), and compares the SHA-256 of each decompressed IDX stream to
the published one. Whatever container the data came in, ``Mnist.sha256`` is the same single
fingerprint, so reports can record exactly which data a run saw.

Keras is deliberately not imported here at module level: the backend has to be chosen
(``KERAS_BACKEND``) before keras is first imported, and loading data must not fix it early.
Only the last-resort download through ``keras.datasets.mnist`` imports keras.

Arrays handed out are read-only: ``load_mnist`` memoises its result in-process, so one caller
mutating the shared arrays would silently change the data for every later caller.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from mnist_mlp.errors import DataError

__all__ = [
    "CANONICAL_NAMES",
    "ENV_VAR",
    "Mnist",
    "OFFICIAL_SHA256",
    "clear_cache",
    "load_idx",
    "load_mnist",
    "resolve_data_dir",
    "scale",
]

logger = logging.getLogger(__name__)

ENV_VAR = "MNIST_DATA_DIR"
"""Environment variable naming the directory (or .npz file) that holds MNIST."""

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


@dataclass(frozen=True, eq=False, repr=False)
class Mnist:
    """The four MNIST arrays (read-only uint8), where they came from, and one fingerprint.

    ``sha256`` is computed over the four canonical decompressed IDX byte streams concatenated
    (train-images, train-labels, t10k-images, t10k-labels), so it is the same whether the data
    came from .gz files, raw files, an .npz or the Keras cache. ``eq=False`` because comparing
    arrays field by field has no single truth value; compare ``sha256`` instead.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: str

    def __repr__(self) -> str:
        return (
            f"Mnist(train={self.x_train.shape[0]}, test={self.x_test.shape[0]}, "
            f"source={self.source!r}, sha256={self.sha256[:16]}...)"
        )


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


# --------------------------------------------------------------------------- public API


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """Where to look for MNIST: the explicit argument, else ``$MNIST_DATA_DIR``, else None.

    None means "no local copy named": ``load_mnist`` then falls back to Keras' own download
    cache. An empty (or blank) environment variable counts as unset, so ``MNIST_DATA_DIR=``
    cannot accidentally mean the current directory.
    """
    if data_dir is not None and str(data_dir).strip():
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR, "")
    if env.strip():
        return Path(env).expanduser()
    return None


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


def load_mnist(data_dir: str | os.PathLike | None = None, *, verify: bool = True) -> Mnist:
    """Load MNIST from ``data_dir``, else ``$MNIST_DATA_DIR``, else Keras' download cache.

    With ``verify`` (the default) each decompressed file must match the official SHA-256, so a
    benchmark can never silently run on other data; ``verify=False`` keeps the structural checks
    only (for deliberately modified data). Results are memoised per (absolute path, verify) for
    the life of the process, because the test suite and multi-case runs load MNIST many times;
    files changed on disk afterwards are not re-read (see ``clear_cache``).
    """
    resolved = resolve_data_dir(data_dir)
    key = None if resolved is None else Path(os.path.abspath(resolved))
    return _load_cached(key, bool(verify))


def clear_cache() -> None:
    """Forget memoised datasets (tests that rewrite files in place, or to free memory)."""
    _load_cached.cache_clear()


def scale(x: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1] (``x / 255``): the seed script's only preprocessing.

    Kept here, in one place, so every backend and every benchmark case sees bit-identical input.
    Returns a new writable array; the input is untouched.
    """
    return np.asarray(x).astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- loaders


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path | None, verify: bool) -> Mnist:
    started = time.perf_counter()
    mnist = _load_from_keras(verify) if path is None else _load_path(path, verify)
    logger.info(
        "loaded MNIST from %s in %.2f s (sha256 %s, %s)",
        mnist.source,
        time.perf_counter() - started,
        mnist.sha256,
        "verified against the official SHA-256" if verify else "NOT verified",
    )
    return mnist


def _load_path(path: Path, verify: bool) -> Mnist:
    """Dispatch a local path: an .npz file, or a directory of IDX files (preferred) or mnist.npz."""
    try:
        if not path.exists():
            raise DataError(f"{path}: MNIST data directory does not exist")
        if path.is_file():
            if path.suffix.lower() == ".npz":
                return _load_npz(path, verify)
            raise DataError(f"{path}: is a file; expected a directory of MNIST files or an .npz archive")
        if not path.is_dir():
            raise DataError(f"{path}: not a directory or an .npz file")
        found: dict[str, Path] = {}
        for canonical in CANONICAL_NAMES:
            present = [path / name for name in _candidate_names(canonical) if (path / name).is_file()]
            if present:
                found[canonical] = present[0]
                if len(present) > 1:
                    logger.info(
                        "%s: several copies of %s; using %s, ignoring %s",
                        path, canonical, present[0].name, ", ".join(p.name for p in present[1:]),
                    )
        npz_present = (path / NPZ_NAME).is_file()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or _one_line(exc)})") from None

    if found:
        for canonical in CANONICAL_NAMES:
            if canonical not in found:
                raise DataError(
                    f"{path}: {canonical} is missing (tried {', '.join(_candidate_names(canonical))})"
                )
        if npz_present:
            logger.info("%s: using the IDX files; ignoring %s", path, NPZ_NAME)
        return _load_idx_files(path, found, verify)
    if npz_present:
        return _load_npz(path / NPZ_NAME, verify)
    raise DataError(
        f"{path}: no MNIST files here (looked for {', '.join(CANONICAL_NAMES)},"
        f" each optionally .gz or dotted like train-images.idx3-ubyte, or {NPZ_NAME})"
    )


def _load_idx_files(directory: Path, files: dict[str, Path], verify: bool) -> Mnist:
    """Structural parse of all four, then cross-check counts, then (if verify) SHA-256."""
    parsed = {name: _read_idx(files[name], _kind_of(name)) for name in _PARSE_ORDER}
    for images, labels in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        n_images = parsed[images][1].shape[0]
        n_labels = parsed[labels][1].shape[0]
        if n_images != n_labels:
            raise DataError(
                f"{files[labels]}: {n_labels} labels but {files[images]} holds {n_images} images"
            )
    if verify:
        for name in CANONICAL_NAMES:
            header, array = parsed[name]
            _check_sha(str(files[name]), header, array, OFFICIAL_SHA256[name], "not the official MNIST file")
    return Mnist(
        x_train=parsed[TRAIN_IMAGES][1],
        y_train=parsed[TRAIN_LABELS][1],
        x_test=parsed[TEST_IMAGES][1],
        y_test=parsed[TEST_LABELS][1],
        source=str(directory),
        sha256=_fingerprint([parsed[name] for name in CANONICAL_NAMES]),
    )


def _load_npz(path: Path, verify: bool) -> Mnist:
    """Read a Keras-style mnist.npz without ever unpickling, then check it like the IDX files."""
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(4)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or _one_line(exc)})") from None
    if prefix not in _ZIP_MAGICS:
        raise DataError(f"{path}: not a zip/.npz archive")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                raise DataError(
                    f"{path}: missing key {', '.join(missing)} (an MNIST .npz holds {', '.join(NPZ_KEYS)})"
                )
            arrays = {key: npz[key] for key in NPZ_KEYS}
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"{path}: holds pickled objects, refused") from None
        raise DataError(f"{path}: unreadable .npz ({_one_line(exc)})") from None
    except Exception as exc:  # BadZipFile, OSError, EOFError, zlib.error, KeyError ...
        raise DataError(f"{path}: unreadable .npz ({_one_line(exc)})") from None
    return _mnist_from_arrays(str(path), str(path), arrays, verify)


def _mnist_from_arrays(where: str, source: str, arrays: dict[str, np.ndarray], verify: bool) -> Mnist:
    """Check in-memory arrays (npz or Keras) exactly as IDX files are checked, and fingerprint them.

    The IDX bytes are reconstructed (header + C-order body) so the SHA-256 comparison and the
    dataset fingerprint are the same as for the original files.
    """
    for split in ("train", "test"):
        x_key, y_key = f"x_{split}", f"y_{split}"
        x, y = arrays[x_key], arrays[y_key]
        for key, array in ((x_key, x), (y_key, y)):
            if array.dtype != np.uint8:
                raise DataError(f"{where}: {key} has dtype {array.dtype}, expected uint8")
        if x.ndim != 3 or x.shape[1:] != (ROWS, COLS):
            raise DataError(f"{where}: {x_key} has shape {x.shape}, expected (n, {ROWS}, {COLS})")
        if y.ndim != 1:
            raise DataError(f"{where}: {y_key} has shape {y.shape}, expected (n,)")
        _check_count(where, x.shape[0], f"{x_key} images")
        if y.shape[0] != x.shape[0]:
            raise DataError(f"{where}: {y_key} has {y.shape[0]} labels but {x_key} has {x.shape[0]} images")
        _check_labels(f"{where}: {y_key}", y)

    parts: dict[str, tuple[bytes, np.ndarray]] = {}
    for key in NPZ_KEYS:
        array = _freeze(np.ascontiguousarray(arrays[key]))
        canonical = _NPZ_TO_IDX[key]
        parts[canonical] = (_idx_header(_kind_of(canonical), array.shape), array)
    if verify:
        for key in NPZ_KEYS:
            canonical = _NPZ_TO_IDX[key]
            header, array = parts[canonical]
            _check_sha(
                f"{where}: {key}", header, array, OFFICIAL_SHA256[canonical],
                f"not the official MNIST {canonical}",
            )
    return Mnist(
        x_train=parts[TRAIN_IMAGES][1],
        y_train=parts[TRAIN_LABELS][1],
        x_test=parts[TEST_IMAGES][1],
        y_test=parts[TEST_LABELS][1],
        source=source,
        sha256=_fingerprint([parts[name] for name in CANONICAL_NAMES]),
    )


def _keras_cache_path() -> str:
    """Best guess at where keras.utils.get_file stored mnist.npz (for the ``source`` string)."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    for root in (base, os.path.join("/tmp", ".keras")):  # keras falls back to /tmp if unwritable
        candidate = os.path.join(root, "datasets", NPZ_NAME)
        if os.path.isfile(candidate):
            return candidate
    return os.path.join(base, "datasets", NPZ_NAME)


def _default_backend_for_download() -> None:
    """Importing keras fixes its backend: when none was chosen, pick one that is installed.

    Keras would default to TensorFlow, which may be absent (a JAX-only install), and a process
    that only downloads data (the benchmark's parent) should not fail for that.
    """
    import importlib.util
    import sys

    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return
    from mnist_mlp.config import BACKENDS

    for backend in BACKENDS:
        if importlib.util.find_spec(backend) is not None:
            os.environ["KERAS_BACKEND"] = backend
            return


def _load_from_keras(verify: bool) -> Mnist:
    """Last resort: Keras' own download and cache. Imports keras, so only reached by choice.

    Never used by the tests (no network); the arrays get the same checks as an .npz.
    """
    _default_backend_for_download()
    try:
        from keras.datasets import mnist as keras_mnist

        (x_train, y_train), (x_test, y_test) = keras_mnist.load_data()
    except Exception as exc:
        raise DataError(
            f"MNIST not found locally and the Keras download failed: {_one_line(exc)};"
            f" set {ENV_VAR} or pass --data-dir"
        ) from None
    cache = _keras_cache_path()
    arrays = {
        "x_train": np.asarray(x_train),
        "y_train": np.asarray(y_train),
        "x_test": np.asarray(x_test),
        "y_test": np.asarray(y_test),
    }
    return _mnist_from_arrays(cache, f"keras cache ({cache})", arrays, verify)
