"""The seed workload as a plain Keras script, no harness: the baseline for the harness overhead.

    python benchmarks/plain_keras.py [--backend jax] [--device cpu] [--epochs 25] [--seed 0]
        [--data-dir DIR] [--json OUT.json]

The timed span is exactly a round of ``benchmarks/test_training.py`` (``mnist_mlp.train.train``
once its inputs are prepared): seeding, building and compiling the model, ``fit`` (batch 32,
the last 20% held out for validation) and the test-set evaluation (``predict`` at batch 1024,
then scikit-learn's ``accuracy_score`` on the argmax). Before the timer, in both: loading the
data (through ``mnist_mlp.data``, so both see the same verified arrays), scaling it to float32
in [0, 1], and seeding once (``mnist_mlp.train.set_random_seed``, as the harness seeds: no TensorFlow
import on JAX or PyTorch; any one-off import is paid here). The backend and device are chosen by ``mnist_mlp.backends``
(environment variables only, before keras is imported), as the harness's child does.

``benchmarks/overhead.py`` runs this script and the harness's training round alternately in
fresh processes and prints the overhead as a ratio; the target is at most 3%.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from mnist_mlp import backends  # noqa: E402
from mnist_mlp.data import load_mnist, scale  # noqa: E402
from mnist_mlp.errors import MnistMlpError  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, help="tensorflow, jax or torch (default $KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    try:
        backends.select(backends.resolve_backend(args.backend), args.device)
        data = load_mnist(args.data_dir)
    except MnistMlpError as exc:  # one line, the CLI's exit code; no traceback
        print(f"plain_keras.py: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    import keras
    import numpy as np
    from sklearn.metrics import accuracy_score

    from mnist_mlp.train import set_random_seed

    x_train, x_test = scale(data.x_train), scale(data.x_test)

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
    accuracy = float(accuracy_score(data.y_test, np.argmax(probs, axis=1)))
    wall = time.perf_counter() - start
    backend = keras.backend.backend()
    print(f"{backend}: {args.epochs} epochs, wall {wall:.2f} s, test accuracy {accuracy:.4f}")
    if args.json:
        figures = {"backend": backend, "epochs": args.epochs, "seed": args.seed, "seconds": wall, "test_accuracy": accuracy}
        Path(args.json).write_text(json.dumps(figures) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
