"""argparse ``type=`` converters shared by every ``mnist-mlp`` command.

Each takes the option's text and returns the value, or raises ``argparse.ArgumentTypeError`` with
a message naming the problem; argparse turns that into one line, ``argument --OPTION: MESSAGE``,
and exit code 2 (see ``mnist_mlp.cli.main._Parser``). Kept free of heavy imports: the parser is built
for ``--help`` too.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

from mnist_mlp.config import parse_jit_compile
from mnist_mlp.errors import UsageError


def _parse(text: str, cast: Callable[[str], float], expected: str) -> float:
    try:
        return cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def _positive_or(text: str, expected: str, problem: str) -> float:
    """A finite number above 0 (NaN and infinity refused), else ``problem`` with the text."""
    value = _parse(text, float, expected)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{problem}, got {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (epochs, seeds, batch size, steps per execution)."""
    value = int(_parse(text, int, "a whole number"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number of at least 0 (the first seed)."""
    value = int(_parse(text, int, "a whole number"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (learning rate, timeout)."""
    return _positive_or(text, "a number", "must be a positive number")


def fraction(text: str) -> float:
    """A number in (0, 1] (a target accuracy)."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def split(text: str) -> float:
    """A number strictly between 0 and 1 (the validation split)."""
    value = _parse(text, float, "a number")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0 (a tolerance)."""
    value = _parse(text, float, "a number")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text}")
    return value


def percent(text: str) -> float:
    """A percentage above 0 (``--fail-if-slower``)."""
    return _positive_or(text, "a number of percent", "must be a percentage greater than 0")


def points(text: str) -> float:
    """Percentage points strictly between 0 and 100 (``--fail-if-less-accurate``)."""
    value = _parse(text, float, "a number of percentage points")
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 100 percentage points, got {text}")
    return value


def jit(text: str) -> bool | str:
    """Keras' ``jit_compile``: auto, true or false."""
    try:
        return parse_jit_compile(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def jit_list(text: str) -> tuple[bool | str, ...]:
    """Comma-separated ``jit_compile`` values (auto, true, false), duplicates dropped, order kept."""
    values = tuple(dict.fromkeys(jit(part.strip()) for part in text.split(",") if part.strip()))
    if not values:
        raise argparse.ArgumentTypeError("give at least one of auto, true, false")
    return values


def choices(allowed: tuple[str, ...], option: str) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list of names from ``allowed``, duplicates dropped, order kept."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        unknown = [name for name in names if name not in allowed]
        if not names or unknown:
            raise argparse.ArgumentTypeError(
                f"{', '.join(unknown) or 'nothing'} is not one of {', '.join(allowed)} (comma-separated)"
            )
        return names

    parse.__name__ = option
    return parse


def int_in(low: int, high: int, why: str = "") -> Callable[[str], int]:
    """One whole number from ``low`` to ``high`` (``why`` says why the bounds)."""

    def parse(text: str) -> int:
        value = int(_parse(text, int, "a whole number"))
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low} to {high}{why}")
        return value

    return parse


def int_list(low: int | None = None, high: int | None = None, why: str = "") -> Callable[[str], tuple[int, ...]]:
    """Comma-separated whole numbers, each within ``low`` to ``high`` when given (``why`` says why)."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
        for value in values:
            if (low is not None and value < low) or (high is not None and value > high):
                raise argparse.ArgumentTypeError(f"{value} is outside {low} to {high}{why}")
        return values

    return parse
