"""The seed workload as a plain Keras script, no harness: the baseline for the harness overhead.

    KERAS_BACKEND=jax python benchmarks/plain_keras.py [--epochs 25] [--seed 0]

Times the same span as a round of ``benchmarks/test_training.py``: seeding (as the harness
does, ``mnist_mlp.train.set_random_seed``: no TensorFlow import on JAX or PyTorch; one-off imports
are paid before the timer, in both), building and compiling the model, ``fit`` (batch 32, last 20% held out for validation) and the test-set
evaluation. Only the data loading (through ``mnist_mlp.data``, so both see the same verified
arrays) is outside the timer. Compare its wall time with the training wall time in results.json;
the target is at most 3% difference.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mnist_mlp.data import load_mnist  # noqa: E402
from mnist_mlp.train import set_random_seed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    data = load_mnist(args.data_dir)
    x_train = data.x_train.astype(np.float32) / np.float32(255.0)
    x_test = data.x_test.astype(np.float32) / np.float32(255.0)

    set_random_seed(args.seed)  # one-off imports kept out of the timer, as in the harness
    start = time.perf_counter()
    set_random_seed(args.seed)
    model = keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, data.y_train, epochs=args.epochs, batch_size=32, validation_split=0.2, verbose=0)
    probs = model.predict(x_test, batch_size=1024, verbose=0)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == data.y_test))
    wall = time.perf_counter() - start
    print(f"{keras.backend.backend()}: {args.epochs} epochs, wall {wall:.2f} s, test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
