"""Find every run under the reports folder (and extra folders), load it, and say why one was not.

Runs live at any depth (``reports/reference/<run>``, ``reports/calibration/out-of-sample/<run>``),
so the search goes deeper than the index's (``runs.MAX_DEPTH``). A results.json that cannot be
read or fails the loader's checks (``results.load``) is listed with that one-line reason and the
others go on: one damaged run never hides the rest. Older schemas load (``results.load`` accepts
them) and are shown with what they have.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mnist_mlp import results, runs
from mnist_mlp.errors import ResultFileError, UsageError

#: how deep below a reports folder runs are looked for (reports/calibration/out-of-sample/<run> is 3)
SEARCH_DEPTH = 6
#: the folder of the committed reference runs, relative to the reports folder: the default baseline
REFERENCE_FOLDER = "reference"


@dataclass
class LoadedRun:
    name: str  # the folder relative to the reports folder (or as given, for an extra folder)
    folder: Path
    run: dict[str, Any]

    @property
    def created(self) -> str:
        return str(self.run.get("created_utc") or "")


@dataclass
class Collection:
    runs: list[LoadedRun]  # oldest first
    unreadable: dict[str, str] = field(default_factory=dict)  # name -> one-line reason
    baseline: int = 0  # index into runs
    ab_sides: list[str] = field(default_factory=list)  # A/B sides found and left out (their ab.md judges them)

    def index_of(self, spec: str | Path) -> int:
        """The run a ``--baseline`` names: its folder (as a path), its name here, or its run id."""
        text = str(spec).rstrip("/")
        target = Path(text)
        if target.name == results.RESULTS_FILE:
            target = target.parent
        for index, entry in enumerate(self.runs):
            if text in (entry.name, entry.run.get("run_id")):
                return index
            if target.exists() and _same(target, entry.folder):
                return index
        known = ", ".join(entry.name for entry in self.runs) or "none"
        raise UsageError(f"--baseline {spec}: no such run among those found (runs: {known})")


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _folders(root: Path) -> list[Path]:
    if (root / results.RESULTS_FILE).is_file():
        return [root]
    return runs.run_folders(root, depth=SEARCH_DEPTH)


def collect(reports_dir: str | Path, extra: Sequence[str | Path] = (), baseline: str | Path | None = None) -> Collection:
    """Every run under ``reports_dir`` and ``extra`` (run folders or folders of runs), oldest first.

    The sides of A/B sessions found under ``reports_dir`` are left out (``ab_sides`` names them):
    ``ab.md`` judges them as pairs; a side named in ``extra`` is shown like any run.

    A missing reports folder or extra folder is a usage error (the user named it); a damaged run
    is not: it lands in ``unreadable`` with its reason.
    """
    roots: list[tuple[Path, Path | None]] = []
    root = Path(reports_dir)
    if not root.is_dir():
        raise UsageError(f"--reports {reports_dir}: not a folder")
    roots.append((root, root))
    for folder in extra:
        path = Path(folder)
        if path.is_file() and path.name == results.RESULTS_FILE:
            path = path.parent
        if not path.is_dir():
            raise UsageError(f"{folder}: not a run folder or a folder of runs")
        roots.append((path, None))
    loaded: list[LoadedRun] = []
    unreadable: dict[str, str] = {}
    seen: set[Path] = set()
    skipped_ab: list[str] = []
    for top, relative_to in roots:
        for run_folder in _folders(top):
            real = run_folder.resolve()
            if real in seen:
                continue
            seen.add(real)
            name = _name(run_folder, relative_to, top)
            try:
                run = results.load(run_folder / results.RESULTS_FILE)
            except ResultFileError as exc:
                unreadable[name] = str(exc)
                continue
            if run.get("ab") and relative_to is not None:
                # a side of an A/B session (``mnist-mlp ab``): two environments interleaved on one
                # machine, judged in its ab.md; in a machine's history it would read as a change
                skipped_ab.append(name)
                seen.discard(real)  # still shown where ``extra`` names it
                continue
            loaded.append(LoadedRun(name, run_folder, run))
    loaded.sort(key=lambda entry: (entry.created, entry.name))
    collection = Collection(loaded, unreadable, ab_sides=skipped_ab)
    if baseline is not None:
        collection.baseline = collection.index_of(baseline)
    else:
        collection.baseline = default_baseline(loaded)
    return collection


def _name(run_folder: Path, relative_to: Path | None, top: Path) -> str:
    if relative_to is not None:
        return run_folder.relative_to(relative_to).as_posix()
    if run_folder == top:
        return top.as_posix()
    return (top / run_folder.relative_to(top)).as_posix()


def default_baseline(loaded: Sequence[LoadedRun]) -> int:
    """The newest committed reference run (``reference/<run>``), else the oldest run. The reference's
    open-division run (``profile`` open: a race, no sweep to score against) is never the baseline."""
    references = [i for i, entry in enumerate(loaded)
                  if entry.name.startswith(REFERENCE_FOLDER + "/") and entry.run.get("profile") != "open"]
    return references[-1] if references else 0
