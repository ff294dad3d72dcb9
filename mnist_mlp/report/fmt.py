"""The smallest formatting rules every table shares: the dash for "no value", and a number."""

from __future__ import annotations

from typing import Any

#: what a table shows where there is no value
DASH = "–"


def num(value: Any, digits: int = 2) -> str:
    """``1,234.57``; the dash for None (and for a bool, which is no measurement)."""
    if value is None or isinstance(value, bool):
        return DASH
    return f"{value:,.{digits}f}"
