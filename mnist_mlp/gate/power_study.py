"""Train the deliberate regressions (``mnist_mlp.gate.regressions``) on a set of seeds, for the gate's power.

    python benchmarks/gate_power.py run --out reports/calibration/power [--seeds 10-19] [--backend jax]
        healthy label_shuffle=0.05,0.1 epochs=2,4 learning_rate=0.01 hidden_units=32

Every regression at every strength is trained in a fresh process of its own (the backend is
chosen before keras is imported, as in the harness), on the same seeds as the healthy control,
through the same ``train.train`` the harness times. The test accuracy of each seed goes into
``accuracies.json`` in the output folder, written atomically after each process: a crash, a
timeout or Ctrl-C loses at most the process that was running, and running the command again
skips what is already there (same regression, same seeds, same backend). ``report`` then judges
them with the gate (``mnist_mlp.gate.power``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from mnist_mlp import atomic

from mnist_mlp.gate import regressions
from mnist_mlp.config import BACKENDS, seed_span
from mnist_mlp.errors import EXIT_CASES_FAILED, MnistMlpError, ResultFileError, UsageError

SCHEMA = "mnist-mlp/gate-power"
SCHEMA_VERSION = 1
ACCURACIES_FILE = "accuracies.json"
#: seconds one regression's process may take, per seed (a 25-epoch seed takes 20-180 s on a 2-core VM)
TIMEOUT_PER_SEED_S = 600.0


class StudyFailed(MnistMlpError):
    """A regression's process failed or timed out (what finished before it is kept)."""

    exit_code = EXIT_CASES_FAILED


def parse_seeds(text: str) -> list[int]:
    """``10-19`` or ``3,5,8`` -> a list of distinct seeds of at least 0."""
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-", 1))
            seeds = list(range(first, last + 1))
        else:
            seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--seeds {text!r}: give FIRST-LAST or a comma-separated list of whole numbers") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r}: give at least one seed (FIRST-LAST with FIRST <= LAST), each at least 0 and none twice")
    return seeds


def empty_study(backend: str, seeds: Sequence[int]) -> dict[str, Any]:
    from mnist_mlp.backends import package_versions
    from mnist_mlp.bench.machine import cpu_info, git_commit, host_name, memory_bytes

    commit, dirty = git_commit()
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "backend": backend,
        "device": "cpu",
        "seeds": list(seeds),
        "machine": {"host": host_name(), "platform": platform.platform(), "python": platform.python_version(),
                    "cpu": cpu_info(), "memory_bytes": memory_bytes()},
        "software": package_versions(),
        "tool": {"commit": commit, "dirty": dirty},
        "entries": [],
    }


def load(folder: str | Path) -> dict[str, Any]:
    """The study in ``folder`` (its ``accuracies.json``); ResultFileError names the file and what is wrong."""
    path = Path(folder) if Path(folder).suffix == ".json" else Path(folder) / ACCURACIES_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file (run `gate_power.py run --out {path.parent}` first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFileError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ResultFileError(f"{path}: not a gate-power study (schema {SCHEMA!r} expected)")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ResultFileError(f"{path}: schema version {doc.get('schema_version')!r}; this version reads {SCHEMA_VERSION}")
    if doc.get("backend") not in BACKENDS:
        raise ResultFileError(f"{path}: backend must be one of {', '.join(BACKENDS)}, got {doc.get('backend')!r}")
    seeds = doc.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ResultFileError(f"{path}: seeds must be a list of whole numbers of at least 0, got {seeds!r}")
    if not isinstance(doc.get("entries"), list):
        raise ResultFileError(f"{path}: entries must be a list")
    for index, entry in enumerate(doc["entries"]):
        where = f"{path}: entries[{index}]"
        if not isinstance(entry, dict) or entry.get("kind") not in regressions.KINDS:
            raise ResultFileError(f"{where}: kind must be one of {', '.join(regressions.KINDS)}")
        if not isinstance(entry.get("label"), str):
            raise ResultFileError(f"{where}: label must be text, e.g. 'epochs=3'")
        if any(other.get("label") == entry["label"] for other in doc["entries"][:index] if isinstance(other, dict)):
            raise ResultFileError(f"{where}: {entry['label']} is in the study twice")
        accuracies = entry.get("accuracies")
        if not isinstance(accuracies, dict) or sorted(accuracies) != sorted(map(str, seeds)):
            raise ResultFileError(f"{where} ({entry['label']}): accuracies must map each of the study's seeds {seeds} to a test accuracy")
        for seed, value in accuracies.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise ResultFileError(f"{where}: seed {seed}: test accuracy must be a number in [0, 1], got {value!r}")
    return doc


def save(doc: Mapping[str, Any], folder: Path) -> Path:
    return atomic.write_json(folder / ACCURACIES_FILE, doc)


def child_command(regression: regressions.Regression, seeds: Sequence[int], backend: str, data_dir: str | None) -> list[str]:
    command = [sys.executable, "-m", "mnist_mlp.gate.power_study", "--child", regression.kind,
               "" if regression.strength is None else repr(regression.strength),
               ",".join(map(str, seeds)), backend]
    return command + ([data_dir] if data_dir else [])


def run_child(command: Sequence[str], timeout: float, log_path: Path) -> dict[str, Any]:
    """Run one regression's process; its last stdout line is the JSON of its seeds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise StudyFailed(f"{' '.join(command[4:6])}: no result within {timeout:.0f} s; its log: {log_path}") from None
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise StudyFailed(f"{' '.join(command[4:6])}: the process exited {done.returncode}; its log: {log_path}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise StudyFailed(f"{' '.join(command[4:6])}: its last line is not the JSON of its seeds; its log: {log_path}") from None


def _checked(got: Any, seeds: Sequence[int], label: str) -> dict[str, float]:
    """The child's accuracies, if they are one number in [0, 1] per seed; else StudyFailed (nothing saved)."""
    accuracies = got.get("accuracies") if isinstance(got, dict) else None
    if not isinstance(accuracies, dict) or sorted(accuracies) != sorted(map(str, seeds)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0 for v in accuracies.values()):
        raise StudyFailed(f"{label}: the process did not return one test accuracy in [0, 1] for each seed; nothing saved for it")
    return accuracies


def run_study(
    folder: Path, wanted: Sequence[regressions.Regression], seeds: Sequence[int], backend: str,
    data_dir: str | None = None, runner: Callable[[Sequence[str], float, Path], dict[str, Any]] = run_child,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train every wanted regression not yet in the folder's study; save after each one."""
    atomic.ensure_writable_dir(folder)
    if (folder / ACCURACIES_FILE).exists():
        doc = load(folder)
        if doc["backend"] != backend or doc["seeds"] != list(seeds):
            raise UsageError(f"--out {folder}: its study is {doc['backend']} on seeds {doc['seeds']}; "
                             "a study keeps one backend and one set of seeds: use another folder")
    else:
        doc = empty_study(backend, seeds)
    done = {entry["label"] for entry in doc["entries"]}
    todo = list({r.label: r for r in wanted if r.label not in done}.values())  # each regression once
    say(f"{len(todo)} regression(s) to train on {backend}, seeds {seed_span(list(seeds))} "
        f"({len({r.label for r in wanted} & done)} already in {folder / ACCURACIES_FILE})")
    for index, regression in enumerate(todo, 1):
        started = time.perf_counter()
        got = _checked(runner(child_command(regression, seeds, backend, data_dir), TIMEOUT_PER_SEED_S * len(seeds),
                              folder / f"{regression.label}.log"), seeds, regression.label)
        doc["entries"].append({
            "kind": regression.kind, "strength": regression.strength, "label": regression.label,
            "what": regression.what, "accuracies": got,
            "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "wall_s": round(time.perf_counter() - started, 1),
        })
        save(doc, folder)
        (folder / f"{regression.label}.log").unlink(missing_ok=True)  # kept only when it failed
        values = got.values()
        say(f"[{index}/{len(todo)}] {regression.label}: mean test accuracy {sum(values) / len(values):.2%} "
            f"({time.perf_counter() - started:.0f} s)")
    return doc


def child_main(kind: str, strength: str, seeds: str, backend: str, data_dir: str | None = None) -> int:
    """In a fresh process: train the regression on each seed, print ``{"accuracies": {seed: acc}}``."""
    from mnist_mlp import backends

    regression = regressions.make(kind, None if strength == "" else json.loads(strength))
    backends.select(backend, "cpu")
    from mnist_mlp.config import TrainConfig
    from mnist_mlp.data import load_mnist
    from mnist_mlp.train import ModelInputs, model_inputs, train

    data = load_mnist(data_dir)
    prepared = model_inputs(data, regression.config(TrainConfig()))  # no regression changes the scaling
    accuracies = {}
    for seed in (int(s) for s in seeds.split(",")):
        config = regression.config(TrainConfig(seed=seed))
        inputs = ModelInputs(prepared.x_train, regression.labels(prepared.y_train, seed), prepared.x_test)
        result = train(config, data, inputs=inputs, hidden_units=regression.hidden_units())
        accuracies[str(seed)] = result.test_accuracy
        print(f"{regression.label} seed {seed}: {result.test_accuracy:.4f}", file=sys.stderr, flush=True)
    print(json.dumps({"accuracies": accuracies}), flush=True)
    return 0


if __name__ == "__main__":  # the child process of ``run_study``
    if len(sys.argv) in (6, 7) and sys.argv[1] == "--child":  # kind, strength, seeds, backend[, data dir]
        raise SystemExit(child_main(*sys.argv[2:]))
    raise SystemExit("usage: python benchmarks/gate_power.py run|report ... (this module is its child)")
