"""Where MNIST comes from (a folder, ``$MNIST_DATA_DIR``, Keras' cache) and the one checked ``Mnist``.

Keras is deliberately not imported here at module level: the backend has to be chosen
(``KERAS_BACKEND``) before keras is first imported, and loading data must not fix it early.
Only the last-resort download through ``keras.datasets.mnist`` imports keras; what it prints
goes to standard error, so ``--json`` output stays one JSON object on standard output.

Arrays handed out are read-only: ``load_mnist`` memoises its result in-process, so one caller
mutating the shared arrays would silently change the data for every later caller.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_mlp.data.idx import (
    _NPZ_TO_IDX, _PARSE_ORDER, _ZIP_MAGICS, CANONICAL_NAMES, COLS, ENV_VAR, NPZ_KEYS, NPZ_NAME, OFFICIAL_SHA256,
    OFFLINE_ENV, ROWS,
    TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
    _candidate_names, _check_count, _check_labels, _check_sha, _fingerprint, _freeze, _idx_header, _kind_of,
    _one_line, _read_idx,
)
from mnist_mlp.errors import DataError

logger = logging.getLogger(__name__)

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
    Returns a new writable array; the input is untouched. The division is done in place, in the
    array ``astype`` made: the same float32 division, without a second, transient 188 MB array for
    the training images. It saves that memory, not time: timed in fresh processes on a 2-core VM,
    both forms took 0.04 to 0.55 s for the training and test images, by where the allocator's
    page faults fell, not by form.
    """
    out = np.asarray(x).astype(np.float32)
    out /= np.float32(255.0)
    return out


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


def keras_cache_dir() -> Path | None:
    """The folder where Keras' own download left ``mnist.npz``, if it did (None: not downloaded yet).

    Keras keeps its downloads under ``$KERAS_HOME`` (default ``~/.keras``), in ``datasets/``,
    and falls back to ``/tmp/.keras`` where that is not writable. Looking costs nothing and
    reaches no network, so the tests use it to find MNIST on a machine that has run the tool.
    """
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    for root in (base, os.path.join("/tmp", ".keras")):
        folder = Path(root) / "datasets"
        if (folder / NPZ_NAME).is_file():
            return folder
    return None


def keras_cache_file() -> str:
    """Where keras.utils.get_file stored mnist.npz (for the ``source`` string)."""
    found = keras_cache_dir()
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return str(found / NPZ_NAME) if found else os.path.join(base, "datasets", NPZ_NAME)


def _default_backend_for_download() -> None:
    """Importing keras fixes its backend: when none was chosen, pick one that is installed.

    Keras would default to TensorFlow, which may be absent (a JAX-only install), and a process
    that only downloads data (the benchmark's parent) should not fail for that.
    """
    import importlib.util

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
    if keras_cache_dir() is None and os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0"):
        raise DataError(
            f"MNIST not found locally (no --data-dir, no {ENV_VAR}, nothing in Keras' cache) and "
            f"downloads are off (${OFFLINE_ENV}); set {ENV_VAR} or pass --data-dir"
        )
    _default_backend_for_download()
    try:
        from keras.datasets import mnist as keras_mnist

        # Keras prints "Downloading data from ..." and a progress bar on standard output: send
        # them to standard error, so that a command's --json output stays one JSON object
        with contextlib.redirect_stdout(sys.stderr):
            (x_train, y_train), (x_test, y_test) = keras_mnist.load_data()
    except Exception as exc:
        raise DataError(
            f"MNIST not found locally and the Keras download failed: {_one_line(exc)};"
            f" set {ENV_VAR} or pass --data-dir"
        ) from None
    cache = keras_cache_file()
    arrays = {
        "x_train": np.asarray(x_train),
        "y_train": np.asarray(y_train),
        "x_test": np.asarray(x_test),
        "y_test": np.asarray(y_test),
    }
    return _mnist_from_arrays(cache, f"keras cache ({cache})", arrays, verify)
