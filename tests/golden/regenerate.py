"""Write the golden files that ``tests/test_golden.py`` checks byte for byte.

    python tests/golden/regenerate.py

Run it only when a change to a rendered output is deliberate, and say in the commit which
figure or line changed and why: the golden test exists so that moving code changes nothing.
Each output is made through the command line, as a user makes it, from committed runs copied
into a temporary folder (the committed runs themselves are never rewritten).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from outputs import render_all  # noqa: E402


def main() -> int:
    for name, text in render_all().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
