"""The declared dependency floors hold what the package calls.

``pyproject.toml``'s scipy floor must be at least the release that introduced every
``scipy.stats`` function the package imports: an install at the floor would otherwise fail on
the first ``compare`` (``false_discovery_control`` is 1.11's) while pip calls it satisfied.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: the SciPy release in which each scipy.stats function first appeared; a function the package
#: starts to call must be added here (the test says which), with the release from SciPy's notes
SCIPY_STATS_SINCE = {
    "t": "1.0", "norm": "1.0", "ttest_ind": "1.0", "ttest_rel": "1.0", "ttest_1samp": "1.0", "wilcoxon": "1.0",
    "bartlett": "1.0", "f_oneway": "1.0",
    "binomtest": "1.7",
    "false_discovery_control": "1.11",
}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def scipy_floor(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The ``>=`` version of the scipy requirement in ``[project].dependencies``."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    floors = [m.group(1) for d in dependencies if (m := re.fullmatch(r"scipy\s*>=\s*([\d.]+)", d.strip()))]
    assert len(floors) == 1, f"one scipy>=X requirement expected in {dependencies}"
    return floors[0]


def scipy_stats_calls(package: Path = ROOT / "mnist_mlp") -> set[str]:
    """The names the package imports from ``scipy.stats`` or reads as ``scipy.stats.NAME`` / ``stats.NAME``
    (after ``from scipy import stats``)."""
    names: set[str] = set()
    for path in package.rglob("*.py"):
        source = path.read_text()
        prefixes = ("scipy.stats", "stats") if "from scipy import stats" in source else ("scipy.stats",)
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "scipy.stats":
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Attribute) and ast.unparse(node.value) in prefixes:
                names.add(node.attr)
    return names


def test_the_scipy_floor_has_every_scipy_stats_function_the_package_calls():
    calls = scipy_stats_calls()
    assert calls, "the scan found no scipy.stats call in the package"
    unknown = calls - SCIPY_STATS_SINCE.keys()
    assert not unknown, f"add the SciPy release that introduced {sorted(unknown)} to SCIPY_STATS_SINCE"
    needed = max(calls, key=lambda name: _version(SCIPY_STATS_SINCE[name]))
    floor = scipy_floor()
    assert _version(floor) >= _version(SCIPY_STATS_SINCE[needed]), (
        f"pyproject.toml allows scipy>={floor}, but scipy.stats.{needed} needs {SCIPY_STATS_SINCE[needed]}")

