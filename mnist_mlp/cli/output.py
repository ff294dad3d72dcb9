"""How every command answers: one JSON object with ``--json``, else text for people.

Its own module so that each command module can use it without importing the parser that
registers them all (``cli.main``), which would make an import circle.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    """One JSON object on standard output with ``--json``, else the human-readable ``text``."""
    if getattr(args, "json", False):
        from mnist_mlp.results import sanitize

        print(json.dumps(sanitize(payload), allow_nan=False))  # NaN is not JSON: null instead
    else:
        print(text)
