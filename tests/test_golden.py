"""Rendering is unchanged: report.md, gate.md and compare.md from committed runs, byte for byte.

The golden files under ``tests/golden/`` were written before the package was laid out anew;
each is recomputed here from the committed run's results.json through the command line.
A deliberate change to an output regenerates them: ``python tests/golden/regenerate.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))

from outputs import render_all  # noqa: E402

RENDERED = {}


def _rendered() -> dict[str, str]:
    if not RENDERED:
        RENDERED.update(render_all())
    return RENDERED


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in GOLDEN.glob("*.md")),
)
def test_output_matches_golden_file(name):
    rendered = _rendered()
    assert name in rendered, f"{name}: a golden file that nothing renders any more"
    expected = (GOLDEN / name).read_text(encoding="utf-8")
    assert rendered[name] == expected, (
        f"{name} differs from its golden file; if the change is deliberate: python tests/golden/regenerate.py"
    )


def test_every_rendered_output_has_a_golden_file():
    assert sorted(_rendered()) == sorted(p.name for p in GOLDEN.glob("*.md"))
