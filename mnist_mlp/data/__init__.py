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

from mnist_mlp.data.idx import CANONICAL_NAMES, ENV_VAR, OFFICIAL_SHA256, OFFLINE_ENV, load_idx
from mnist_mlp.data.load import Mnist, clear_cache, keras_cache_dir, load_mnist, resolve_data_dir, scale

__all__ = [
    "CANONICAL_NAMES",
    "ENV_VAR",
    "Mnist",
    "OFFICIAL_SHA256",
    "OFFLINE_ENV",
    "clear_cache",
    "keras_cache_dir",
    "load_idx",
    "load_mnist",
    "resolve_data_dir",
    "scale",
]
