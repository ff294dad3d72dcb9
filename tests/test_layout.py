"""The package's shape: one direction of imports, no circles, short modules, the documented map true.

Every import of every module counts, those inside functions too (that is where import circles
hide: they work until the day someone moves the import to the top). Each module belongs to the
layer of the longest prefix below that names it; a module may import its own layer or a lower
one, never a higher one, and the import graph has no cycle at all.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mnist_mlp"

#: lowest first: foundations, the seed's model and data, the frameworks, the harness and the
#: judges, then rendering, then the command line on top
LAYERS: tuple[tuple[str, ...], ...] = (
    ("mnist_mlp", "mnist_mlp.errors", "mnist_mlp.atomic", "mnist_mlp.locks", "mnist_mlp.stats"),
    ("mnist_mlp.config", "mnist_mlp.race.recipe", "mnist_mlp.race.rules"),
    ("mnist_mlp.data", "mnist_mlp.flops"),
    ("mnist_mlp.model", "mnist_mlp.reference.forward", "mnist_mlp.reference.training", "mnist_mlp.reference"),
    ("mnist_mlp.train", "mnist_mlp.predict"),
    ("mnist_mlp.parallel.plan", "mnist_mlp.parallel"),
    ("mnist_mlp.serving",),
    ("mnist_mlp.backends",),
    ("mnist_mlp.native", "mnist_mlp.parallel.train", "mnist_mlp.reference.verify", "mnist_mlp.race"),
    ("mnist_mlp.results", "mnist_mlp.result_fields"),
    ("mnist_mlp.compare",),
    ("mnist_mlp.bench",),
    ("mnist_mlp.runs", "mnist_mlp.gate", "mnist_mlp.doctor", "mnist_mlp.dashboard"),
    ("mnist_mlp.report",),
    ("mnist_mlp.cli", "mnist_mlp.__main__"),
)
#: a module of one job stays readable; a longer one is doing several
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every mnist_mlp module ``name`` imports, anywhere in its body, resolved to module names."""
    path = MODULES[name]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # "from pkg import sub" imports the submodule when there is one
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names]
        else:
            continue
        found.update(t for t in targets if t == "mnist_mlp" or t.startswith("mnist_mlp."))
    found.discard(name)
    return {t if t in MODULES else t.rsplit(".", 1)[0] for t in found}


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_of(name: str) -> int:
    """The layer of the longest prefix that names ``name``."""
    best, best_len = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{name}: in no layer of tests/test_layout.py (add it where it belongs)")
    return best


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_every_module_is_in_a_layer():
    for name in MODULES:
        layer_of(name)


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})"
        for name, targets in GRAPH.items() for target in sorted(targets) if layer_of(target) > layer_of(name)
    ]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_there_is_no_import_circle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_judging_never_imports_rendering():
    judges = [n for n in MODULES if n.startswith(("mnist_mlp.gate", "mnist_mlp.compare", "mnist_mlp.bench"))]
    rendering = [(n, t) for n in judges for t in GRAPH[n] if t.startswith("mnist_mlp.report")]
    assert not rendering, rendering


def test_the_checks_catch_what_they_name():
    """The checks themselves: a planted circle and a planted upward import are found."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer_of("mnist_mlp.report.tables") > layer_of("mnist_mlp.compare.judge")
    assert layer_of("mnist_mlp.reference.verify") > layer_of("mnist_mlp.backends") > layer_of("mnist_mlp.reference.forward")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_are_short(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(ROOT)}: {lines} lines; split it by job"


def test_the_documented_map_matches_the_tree():
    """docs/contributing.md's "How the code is laid out" names every package and top-level module, and nothing else."""
    text = (ROOT / "docs" / "contributing.md").read_text(encoding="utf-8")
    section = text.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`mnist_mlp/([\w/]+?)(?:\.py|/)`", section))
    named |= {m for group in re.findall(r"`mnist_mlp/\{([\w,]+)\}\.py`", section) for m in group.split(",")}
    actual = {p.name if p.is_dir() else p.stem for p in PACKAGE.iterdir()
              if (p.is_dir() and (p / "__init__.py").is_file()) or (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))}
    assert named == actual, f"docs/contributing.md names {sorted(named - actual)} that do not exist; misses {sorted(actual - named)}"
