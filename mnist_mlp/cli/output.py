"""How every command answers: one JSON object with ``--json``, else text for people.

Its own module so that each command module can use it without importing the parser that
registers them all (``cli.main``), which would make an import circle.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from mnist_mlp.errors import EXIT_INTERRUPTED, MnistMlpError


def emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    """One JSON object on standard output with ``--json``, else the human-readable ``text``."""
    if getattr(args, "json", False):
        from mnist_mlp.results import sanitize

        print(json.dumps(sanitize(payload), allow_nan=False))  # NaN is not JSON: null instead
    else:
        print(text)


def run_handler(handler: Callable[[], int], *, error_prefix: str, interrupted: str) -> int:
    """Run a command's handler; a known error becomes one line on stderr with its exit code, and
    Ctrl-C the line ``interrupted`` with exit 130, never a traceback."""
    try:
        return handler()
    except MnistMlpError as exc:
        print(f"{error_prefix}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return EXIT_INTERRUPTED
