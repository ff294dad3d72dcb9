"""What a command reads before it works: MNIST, from ``--data-dir`` or where the tool finds it."""

from __future__ import annotations

import argparse
from typing import Any


def load_data(args: argparse.Namespace) -> Any:
    from mnist_mlp.data import load_mnist

    return load_mnist(args.data_dir)
