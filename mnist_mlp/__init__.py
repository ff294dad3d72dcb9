"""mnist-mlp: benchmark suite for the classic MNIST multi-layer perceptron on every Keras 3 backend.

The package is importable without keras: modules that need keras import it lazily, so the
backend can be chosen (``mnist_mlp.backends.select``) before keras reads ``KERAS_BACKEND``.
"""

__version__ = "0.1.0"
