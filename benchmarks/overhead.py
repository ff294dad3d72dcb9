"""The harness's training overhead over plain Keras, as a ratio of interleaved rounds.

    python benchmarks/overhead.py --backend jax [--device cpu] [--rounds 3] [--epochs 25] [--seed 0]

Each round runs ``benchmarks/plain_keras.py`` and the harness's training round (the runner's
own child, limited to the training test) in fresh processes, alternating, and the command
prints every round's seconds and test accuracy, both means, the ratio harness/plain with its
spread, and whether it is within the 3% goal. See ``mnist_mlp.bench.overhead``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from mnist_mlp.bench.overhead import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
