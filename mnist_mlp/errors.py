"""One exception family for everything a user can get wrong, each carrying its exit code.

The CLI catches ``MnistMlpError`` and prints ``str(error)`` as a single line, no traceback,
then exits with ``error.exit_code``. Messages name the file or argument and what is wrong.
Exit codes (documented in docs/errors.md): 0 success, 1 gate/regression failed, 2 bad input or
usage, 3 some benchmark cases failed, 4 output could not be written, 130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_CASES_FAILED = 3
EXIT_OUTPUT_FAILED = 4
EXIT_INTERRUPTED = 130
#: bench stopped by SIGTERM (128 + 15), as a scheduler's stop: handled like Ctrl-C
EXIT_TERMINATED = 143


class MnistMlpError(Exception):
    """Base class: a problem with a clear one-line message for the user."""

    exit_code = EXIT_BAD_INPUT


class UsageError(MnistMlpError):
    """An argument or option value is invalid."""


class DataError(MnistMlpError):
    """An MNIST data file is missing, malformed or not the official data."""


class ModelFileError(MnistMlpError):
    """A saved model file is unreadable, unsafe or not the seed's architecture."""


class InputError(MnistMlpError):
    """An image or array given for prediction is unusable."""


class ResultFileError(MnistMlpError):
    """A results file is unreadable, of another schema, or holds impossible values."""


class BackendUnavailable(MnistMlpError):
    """A requested Keras backend or device is not installed or not present."""


class OutputError(MnistMlpError):
    """A file or directory could not be written (permissions, full disk)."""

    exit_code = EXIT_OUTPUT_FAILED


class GateFailed(MnistMlpError):
    """An accuracy gate or regression check failed."""

    exit_code = EXIT_GATE_FAILED
