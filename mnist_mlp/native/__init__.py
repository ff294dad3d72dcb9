"""The seed's model and training written in each framework without Keras (issue 17).

``get(framework, variant)`` returns the ``Trainer`` class of one framework's ``native`` (plain)
or ``native-fast`` variant; each framework's module is imported only when asked for, since
importing it imports the framework. ``base`` holds what they share (initial weights, split,
epochs, clocks); ``steps`` runs K steps of one beside the NumPy training reference.
"""

from __future__ import annotations

import importlib
import os
import sys

from mnist_mlp.backends.numpy_backend import NumpyBackend
from mnist_mlp.config import BACKENDS
from mnist_mlp.errors import UsageError
from mnist_mlp.native.base import IMPLEMENTATIONS, NATIVE

__all__ = ["IMPLEMENTATIONS", "NATIVE", "MODULES", "get", "select", "variants", "prepare_keras", "check_implementation"]

#: each framework's native module (under ``mnist_mlp.native``)
MODULES = {"tensorflow": "tensorflow_native", "jax": "jax_native", "torch": "torch_native", "numpy": "numpy_native"}
#: the variants each framework has (NumPy has no fast variant: it is the reference itself)
VARIANTS = {"tensorflow": NATIVE, "jax": NATIVE, "torch": NATIVE, "numpy": ("native",)}
#: the Keras backend whose seeded model gives a framework's initial weights: its own, and for NumPy
#: Keras on JAX, on the CPU (``NumpyBackend.weights_backend``, where the quick profile runs it)
WEIGHTS_BACKEND = {"numpy": NumpyBackend.weights_backend}


def variants(framework: str) -> tuple[str, ...]:
    """The native variants ``framework`` has (empty for one this package does not know)."""
    return VARIANTS.get(framework, ())


def check_implementation(framework: str, implementation: str, option: str = "--implementation") -> str:
    """``implementation`` if ``framework`` has it, else a ``UsageError`` naming the option."""
    if implementation not in IMPLEMENTATIONS:
        raise UsageError(f"{option}: unknown implementation {implementation!r} (choose from {', '.join(IMPLEMENTATIONS)})")
    if implementation == "keras" and framework not in BACKENDS:
        raise UsageError(f"{option}: {framework} is not a Keras backend; use --implementation native")
    if implementation != "keras" and implementation not in variants(framework):
        raise UsageError(f"{option}: {framework} has no {implementation} implementation "
                         f"(it has {', '.join(variants(framework)) or 'none'})")
    return implementation


def prepare_keras(framework: str) -> None:
    """Before keras is imported: make the seeded model come from ``WEIGHTS_BACKEND`` on the CPU
    (NumPy's case; the Keras backends are chosen by ``backends.select`` as usual). Where keras is
    already imported (a shared process), it must be that backend: a UsageError says so otherwise."""
    wanted = WEIGHTS_BACKEND.get(framework)
    if not wanted:
        return
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != wanted:
            raise UsageError(f"--backend: {framework}'s initial weights come from Keras on {wanted}, but keras is "
                             f"already imported with backend {keras.backend.backend()!r}; run it in a fresh process")
        return
    from mnist_mlp import backends

    os.environ["KERAS_BACKEND"] = wanted
    backends.get(wanted).apply_environment("cpu")  # building the model needs no GPU


def select(framework: str, device: str, implementation: str) -> str:
    """Before keras is imported: set the process up to check or train ``framework``'s ``implementation``
    on ``device``, and return the framework's name. A Keras backend is chosen as ``backends.select``
    does (and its device confirmed); a framework that is no Keras backend (NumPy) gets the Keras
    backend that hands it its initial weights (``WEIGHTS_BACKEND``) and runs on the CPU only."""
    from mnist_mlp import backends

    check_implementation(framework, implementation)
    if framework in WEIGHTS_BACKEND:
        if device not in backends.get(framework).devices:
            raise UsageError(f"--device: {framework} runs on {', '.join(backends.get(framework).devices)} only")
        prepare_keras(framework)
        return framework
    backends.select(framework, device)
    backends.require_device(framework, device)
    return framework


def get(framework: str, variant: str = "native"):
    """The ``Trainer`` class of ``framework``'s ``variant``; imports that framework."""
    check_implementation(framework, variant)
    module = importlib.import_module(f"mnist_mlp.native.{MODULES[framework]}")
    return module.IMPLEMENTATIONS[variant]
