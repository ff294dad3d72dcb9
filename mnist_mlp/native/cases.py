"""How native cases sit among the benchmark's cases: planning variants, and reading them back.

A native case is a bench *variant* ``(("implementation", "native"),)`` of a backend x device, so
it is named in the suite's convention, the variant after the device (``torch-cpu-native``,
``jax-gpu-native-fast``, ``numpy-cpu-native``), and its record carries the variant in
``compile_overrides`` like every variant. Nothing here imports a framework.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from mnist_mlp.native import variants as framework_variants
from mnist_mlp.native.base import IMPLEMENTATIONS, NATIVE

KEY = "implementation"


def with_native(variants: Sequence[tuple], implementations: Sequence[str], framework: str) -> list[tuple]:
    """The Keras ``variants`` (when ``keras`` is chosen), then one variant per native implementation
    chosen that ``framework`` has. Native code has no Keras compile options, so it is planned once
    per backend x device, not crossed with the Keras variants."""
    out = list(variants) if "keras" in implementations else []
    out += [((KEY, name),) for name in NATIVE if name in implementations and name in framework_variants(framework)]
    return out


def is_native(variant: Sequence[tuple]) -> bool:
    return dict(variant).get(KEY, "keras") != "keras"


def implementation_of(case: Mapping[str, Any]) -> str:
    """A result record's implementation: ``keras`` unless its variant names a native one."""
    return str((case.get("compile_overrides") or {}).get(KEY, "keras"))


def parse_implementations(text: str) -> tuple[str, ...]:
    """``keras,native,native-fast`` -> a tuple in that order; a ValueError naming what is unknown."""
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in chosen if name not in IMPLEMENTATIONS]
    if unknown or not chosen:
        raise ValueError(f"unknown implementation {', '.join(unknown) or repr(text)} (choose from {', '.join(IMPLEMENTATIONS)})")
    return tuple(dict.fromkeys(chosen))
